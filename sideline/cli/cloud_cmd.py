"""``sideline cloud``: API, ingest and administration."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sideline.cli import cloud_device_cmd
from sideline.cli.errors import user_errors

if TYPE_CHECKING:
    from peewee import Database

    from cloud.api.jobs import SchedulingJobs
    from cloud.config import CloudConfig
    from cloud.observability.http import OpsServer
    from cloud.outbox import OutboxWorker

app = typer.Typer(help="The cloud side: API, ingest, administration.", no_args_is_help=True)
app.add_typer(cloud_device_cmd.app, name="device")
app.command("broker-files")(cloud_device_cmd.broker_files)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Cloud TOML config (SIDELINE_CLOUD_* overrides it)."),
]


class LogFormatChoice(StrEnum):
    TEXT = "text"
    JSON = "json"


LogFormatOption = Annotated[
    LogFormatChoice | None,
    typer.Option(
        "--log-format",
        help="text, or json: one JSON object per line (default: the config's log_format).",
    ),
]


def _with_log_format(config: CloudConfig, log_format: LogFormatChoice | None) -> CloudConfig:
    if log_format is None:
        return config
    return config.model_copy(update={"log_format": log_format.value})


@app.command()
def api(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default from config).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes (default: the config's api.workers)."),
    ] = None,
    log_format: LogFormatOption = None,
) -> None:
    """Serve the HTTP API (and later the dashboard) with uvicorn.

    With several workers (one per core the API may use), each is its own process
    behind the one port, and /metrics sums all of them."""
    import os
    import tempfile

    import uvicorn

    from cloud.api.app import create_app
    from cloud.config import load_cloud_config
    from cloud.observability.metrics import prepare_multiprocess_dir
    from sideline.api_worker import CONFIG_ENV
    from sideline.logs import configure_logging

    with user_errors():
        loaded = _with_log_format(load_cloud_config(config), log_format)
    configure_logging(loaded.log_level, log_format=loaded.log_format)
    count = workers or loaded.api.workers
    served = {
        "host": host or loaded.api.host,
        "port": port or loaded.api.port,
        "log_level": loaded.log_level.lower(),
        "log_config": None,  # uvicorn's loggers go through ours (text or JSON)
        "access_log": False,  # the app writes its own access line, with the request id
    }
    if count == 1:
        uvicorn.run(create_app(loaded), **served)  # type: ignore[arg-type]
        return
    metrics_dir = loaded.api.metrics_dir or Path(tempfile.gettempdir()) / (
        f"sideline-api-metrics-{served['port']}"
    )
    prepare_multiprocess_dir(metrics_dir)
    os.environ[CONFIG_ENV] = str(config.resolve()) if config is not None else ""
    os.environ["SIDELINE_CLOUD_LOG_FORMAT"] = loaded.log_format
    uvicorn.run("sideline.api_worker:app", factory=True, workers=count, **served)  # type: ignore[arg-type]


DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", help="Overrides the config's database_url."),
]


@app.command()
def migrate(config: ConfigOption = None, database_url: DatabaseOption = None) -> None:
    """Bring the cloud database's schema up to date (versioned, idempotent)."""
    from peewee import OperationalError

    from cloud.config import load_cloud_config
    from cloud.db import DatabaseUrlError, describe_url, open_database
    from cloud.migrations import SchemaTooNew, current_version
    from cloud.migrations import migrate as apply_migrations

    with user_errors(DatabaseUrlError, SchemaTooNew, OperationalError):
        url = database_url or load_cloud_config(config).database_url
        database = open_database(url)
        applied = apply_migrations(database)
    for migration in applied:
        typer.echo(f"applied {migration.version:04d} {migration.name}")
    typer.echo(f"{describe_url(url)}: schema version {current_version(database)}")


@app.command()
def ingest(
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    worker_id: Annotated[
        str | None,
        typer.Option(help="Stable id: the broker keeps this worker's session across restarts."),
    ] = None,
    http_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="/healthz, /readyz and /metrics here (default: ingest.http_port).",
        ),
    ] = None,
    log_format: LogFormatOption = None,
) -> None:
    """Consume device messages from MQTT into the database (run one per core or host)."""
    import signal
    import threading

    from peewee import OperationalError

    from cloud.config import load_cloud_config
    from cloud.db import DatabaseUrlError
    from cloud.ingest.service import IngestService, relax_garbage_collection
    from cloud.migrations import SchemaBehind, SchemaTooNew
    from cloud.mqtt import MqttUnavailable
    from sideline.logs import configure_logging

    with user_errors():
        loaded = _with_log_format(load_cloud_config(config), log_format)
    if database_url:
        loaded = loaded.model_copy(update={"database_url": database_url})
    if http_port is not None:
        ingest_config = loaded.ingest.model_copy(update={"http_port": http_port})
        loaded = loaded.model_copy(update={"ingest": ingest_config})
    configure_logging(loaded.log_level, log_format=loaded.log_format)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    service = IngestService(loaded, worker_id=worker_id)
    relax_garbage_collection()  # this process is the worker's alone
    with user_errors(
        DatabaseUrlError, SchemaBehind, SchemaTooNew, OperationalError, MqttUnavailable
    ):
        service.run(stop)


@app.command()
def jobs(
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit.")] = False,
    http_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Serve /healthz, /readyz and /metrics on this port."),
    ] = None,
    http_host: Annotated[str, typer.Option(help="Address for --http-port.")] = "127.0.0.1",
    log_format: LogFormatOption = None,
) -> None:
    """Run the background work outside the API: extend recurring series to the horizon,
    and deliver the outbox (webhooks).

    The API process runs them too unless api.scheduling.jobs is false; several
    runners at once are safe."""
    import signal
    import threading

    from peewee import OperationalError

    from cloud.api.jobs import SchedulingJobs, outbox_worker
    from cloud.api.runtime import BrokerConnector
    from cloud.config import load_cloud_config
    from cloud.db import DatabaseUrlError
    from cloud.devices.control import DeviceControl
    from cloud.migrations import SchemaBehind, SchemaTooNew, open_current_database
    from cloud.mqtt import CloudMqttClient, cloud_client_id
    from sideline.logs import configure_logging

    with user_errors():
        loaded = _with_log_format(load_cloud_config(config), log_format)
    configure_logging(loaded.log_level, log_format=loaded.log_format)
    with user_errors(DatabaseUrlError, SchemaBehind, SchemaTooNew, OperationalError):
        database = open_current_database(database_url or loaded.database_url)
        # Auto-start sessions tell their devices through the broker, as the API does.
        client = CloudMqttClient(loaded.mqtt, client_id=cloud_client_id(loaded.mqtt, "jobs"))
        connector = BrokerConnector(client)
        connector.start()
        control = DeviceControl(
            client,
            prefix=loaded.mqtt.prefix,
            publish_timeout_s=loaded.api.control.publish_wait_s,
        )
        runner = SchedulingJobs(database, settings=loaded.api.scheduling, control=control)
        sender = outbox_worker(database)
        if once:
            typer.echo(str(runner.run_once()))
            typer.echo(f"outbox: {sender.run_once()} messages tried")
            connector.stop()
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        runner.start()
        sender.start()
        ops = None
        if http_port is not None:
            ops = _jobs_ops_server(loaded, database, http_host, http_port, runner, sender)
            ops.start()
        stop.wait()
        if ops is not None:
            ops.stop()
        sender.stop()
        runner.stop()
        connector.stop()


def _jobs_ops_server(
    config: CloudConfig,
    database: Database,
    host: str,
    port: int,
    runner: SchedulingJobs,
    sender: OutboxWorker,
) -> OpsServer:
    from cloud.migrations import available_migrations
    from cloud.observability.health import DatabaseCheck, Readiness
    from cloud.observability.http import OpsServer

    def alive() -> tuple[bool, str]:
        dead = [name for name, part in (("jobs", runner), ("outbox", sender)) if not part.alive()]
        return (not dead, f"not running: {', '.join(dead)}" if dead else "")

    check = DatabaseCheck(
        database,
        expected_version=len(available_migrations()),
        timeout_s=config.health.timeout_s,
    )
    readiness = Readiness([check], timeout_s=config.health.timeout_s, cache_s=config.health.cache_s)
    return OpsServer(host, port, readiness=readiness, liveness=alive, name="jobs")


def _register_account_admin() -> None:
    """``sideline cloud org|team|user|member|token`` (in their own module)."""
    from sideline.cli.cloud_admin_cmd import register_admin_commands

    register_admin_commands(app)


_register_account_admin()
