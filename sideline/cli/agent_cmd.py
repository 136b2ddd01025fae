"""``sideline agent``: the edge daemon and its checks."""

from __future__ import annotations

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
def check(config: ConfigOption = Path("/etc/sideline/agent.toml")) -> None:
    """Validate the configuration and print what the agent would run."""
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
    from agent.detect.loader import describe_detection

    with user_errors():
        for line in describe_detection(loaded.detect, loaded.device.data_dir):
            typer.echo(line)
