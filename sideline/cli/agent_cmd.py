"""``sideline agent``: the edge daemon and its checks."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from sideline.cli.errors import user_errors

app = typer.Typer(help="The edge capture agent.", no_args_is_help=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Agent TOML config (SIDELINE_AGENT_* overrides it)."),
]


@app.command()
def check(
    config: ConfigOption = Path("/etc/sideline/agent.toml"),
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Check only what is on the box (the disk, the model, files and local cameras); "
            "contact nothing on the network.",
        ),
    ] = False,
) -> None:
    """Validate the configuration, print what the agent would run, and check every part: the
    disk, the model, each camera, the LAN port, the broker and the bucket. Every problem is
    reported, not only the first; exit status 1 if any check failed, 2 for a bad config."""
    from agent.config import load_agent_config

    with user_errors():
        loaded = load_agent_config(config)
    typer.echo(f"config {config}: ok")
    typer.echo(
        f"  device   {loaded.device.org}/{loaded.device.id}  data in {loaded.device.data_dir}"
    )
    for camera in loaded.cameras:
        typer.echo(f"  camera   {camera.id} ({camera.kind})")
    typer.echo(f"  mqtt     {loaded.mqtt.host}:{loaded.mqtt.port} prefix {loaded.mqtt.prefix!r}")
    typer.echo(f"  s3       {loaded.s3.endpoint_url or 'AWS'} bucket {loaded.s3.bucket!r}")
    from agent.checks import CheckResult
    from agent.detect.loader import check_detection

    lines, model_check = check_detection(loaded.detect, loaded.device.data_dir)
    for line in lines:
        typer.echo(line)
    from agent.capture.sources.checks import check_camera, is_local
    from agent.sync.checks import check_data_dir, check_port

    results: list[CheckResult | None] = [check_data_dir(loaded.device.data_dir), model_check]
    for camera in loaded.cameras:
        if offline and not is_local(camera):
            typer.echo(f"  [skip] camera {camera.id} ({camera.kind}): on the network (--offline)")
            continue
        results.extend(check_camera(camera))
    lan = loaded.triggers.lan
    if lan.enabled:
        results.append(check_port("phone endpoint", lan.host, lan.port, "triggers.lan.port"))
    if offline:
        typer.echo("  [skip] mqtt broker and s3 bucket: on the network (--offline)")
    else:
        from agent.sync.checks import check_broker, check_bucket

        results.append(check_broker(loaded.mqtt, loaded.device.id))
        results.append(check_bucket(loaded.s3, loaded.device.org, loaded.device.id))
    reported = [result for result in results if result is not None]
    typer.echo("checks:")
    for result in reported:
        typer.echo(f"  [{'ok' if result.ok else 'FAIL'}] {result.name}: {result.detail}")
    failed = [result.name for result in reported if not result.ok]
    if failed:
        typer.echo(f"{len(failed)} of {len(reported)} checks failed: {', '.join(failed)}")
        raise typer.Exit(code=1)


@app.command()
def run(config: ConfigOption = Path("/etc/sideline/agent.toml")) -> None:
    """Run the agent in the foreground (under systemd: Type=notify, watchdog, journald)."""
    from agent.malloc import tune_malloc

    tune_malloc()  # before any thread exists; see agent/malloc.py
    _without_server_database_drivers()
    from agent.config import load_agent_config
    from agent.daemon import Daemon, ExitReason
    from agent.systemd_notify import SystemdNotifier
    from sideline.logs import configure_logging

    with user_errors():
        loaded = load_agent_config(config)
    configure_logging(loaded.logging.level, journald=loaded.logging.journald, rate_limit=True)
    daemon = Daemon(
        loaded, notifier=SystemdNotifier.from_environment(os.environ), config_path=config
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: daemon.request_stop())
    from agent.buffer.database import StoreOpenError
    from agent.buffer.schema import SchemaTooNew

    try:
        reason = daemon.run()
    except (StoreOpenError, SchemaTooNew) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if reason is ExitReason.RESTART:
        # Same PID, same command line: systemd sees RELOADING=1, then READY=1 again.
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    if reason is ExitReason.FAILED:
        raise typer.Exit(code=1)


def _without_server_database_drivers() -> None:
    """peewee imports every database driver it finds installed. Where the cloud's extras
    are installed too (a developer's machine, the demo), that is psycopg2 and its libpq:
    ~7 MiB of the agent's memory for a driver it never uses. A box installs only the
    agent's extras; this makes the agent's process the same everywhere."""
    for driver in ("psycopg2cffi", "psycopg2", "psycopg", "pymysql", "MySQLdb"):
        sys.modules.setdefault(driver, None)  # type: ignore[arg-type]
