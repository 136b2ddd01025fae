"""How CLI commands report errors that the user can fix."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from sideline.settings import ConfigError

__all__ = ["user_errors"]

log = logging.getLogger("sideline")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a configuration error into a clear message and exit status 2, not a traceback."""
    try:
        yield
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
