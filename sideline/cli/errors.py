"""How CLI commands report errors that the user can fix."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from core.settings import ConfigError

__all__ = ["user_errors"]

log = logging.getLogger("sideline")


@contextmanager
def user_errors(*also: type[Exception]) -> Iterator[None]:
    """Turn a configuration error (or one of ``also``) into a clear message and exit
    status 2, not a traceback."""
    expected: tuple[type[Exception], ...] = (ConfigError, *also)
    try:
        yield
    except expected as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
