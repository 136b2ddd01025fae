"""``sideline protocol``: the wire contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The agent<->cloud wire contract.", no_args_is_help=True)


@app.command()
def schema(
    out: Annotated[
        Path, typer.Option(help="Folder to write one JSON Schema per message into.")
    ] = Path("docs/protocol"),
) -> None:
    """Write the JSON Schema of every message (commit the result under docs/protocol/)."""
    from protocol.schema import write_schemas

    for path in write_schemas(out):
        typer.echo(f"wrote {path}")
