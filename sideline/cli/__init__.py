"""``sideline``: one command line for the agent, the cloud and the wire protocol.

Each group lives in its own module; a subcommand is added only once it works.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperOption

from sideline import __version__
from sideline.cli import agent_cmd, cloud_cmd, demo_cmd, protocol_cmd

__all__ = ["app", "main"]


def _flags_show_no_type() -> None:
    """typer's rich help prints a type beside every option, so a flag reads
    ``--offline  <bool>``; a flag takes no value, so it shows none (as typer did
    before 0.29). Options that take a value keep their ``<int>``, ``<path>``."""
    show_type = TyperOption.display_type_rich
    if getattr(show_type, "_sideline", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else show_type(self, ctx)

    display_type_rich._sideline = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()

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
