"""``sideline cloud``: API, ingest and administration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sideline.cli import cloud_device_cmd
from sideline.cli.errors import user_errors

app = typer.Typer(help="The cloud side: API, ingest, administration.", no_args_is_help=True)
app.add_typer(cloud_device_cmd.app, name="device")
app.command("broker-files")(cloud_device_cmd.broker_files)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Cloud TOML config (SIDELINE_CLOUD_* overrides it)."),
]


@app.command()
def api(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default from config).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config).")] = None,
) -> None:
    """Serve the HTTP API (and later the dashboard) with uvicorn."""
    import uvicorn

    from cloud.api.app import create_app
    from cloud.config import load_cloud_config
    from sideline.logs import configure_logging

    with user_errors():
        loaded = load_cloud_config(config)
    configure_logging(loaded.log_level)
    uvicorn.run(
        create_app(loaded),
        host=host or loaded.api.host,
        port=port or loaded.api.port,
        log_level=loaded.log_level.lower(),
    )


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
        loaded = load_cloud_config(config)
    if database_url:
        loaded = loaded.model_copy(update={"database_url": database_url})
    configure_logging(loaded.log_level)
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
        loaded = load_cloud_config(config)
    configure_logging(loaded.log_level)
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
        stop.wait()
        sender.stop()
        runner.stop()
        connector.stop()


def _register_account_admin() -> None:
    """``sideline cloud org|team|user|member|token`` (in their own module)."""
    from sideline.cli.cloud_admin_cmd import register_admin_commands

    register_admin_commands(app)


_register_account_admin()
