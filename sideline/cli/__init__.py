"""``sideline``: one command line for the agent, the cloud and the wire protocol.

Each group lives in its own module; a subcommand is added only once it works.
"""

from __future__ import annotations

import typer

from sideline import __version__
from sideline.cli import agent_cmd, cloud_cmd, demo_cmd, protocol_cmd

__all__ = ["app", "main"]

app = typer.Typer(
    name="sideline",
    help="Edge capture agent plus cloud sync for practice fields.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(agent_cmd.app, name="agent")
app.add_typer(cloud_cmd.app, name="cloud")
app.add_typer(protocol_cmd.app, name="protocol")
app.command(name="demo")(demo_cmd.demo)


@app.command()
def version() -> None:
    """Print the version and the protocol version."""
    from protocol import PROTOCOL_VERSION

    typer.echo(f"sideline {__version__} (protocol {PROTOCOL_VERSION})")


def main() -> None:
    app()
