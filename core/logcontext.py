"""Fields that every log line of the current request or message carries.

The API binds a request id for each request, the ingest the message ids of what
it is writing; the JSON log format (``--log-format json``) adds them to each line
(``sideline.logs``). Context variables follow a request into FastAPI's thread
pool, and each thread of the ingest has its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType

__all__ = ["bind", "current_fields", "log_fields", "unbind"]

_EMPTY: Mapping[str, object] = MappingProxyType({})
_fields: ContextVar[Mapping[str, object]] = ContextVar("sideline_log_fields", default=_EMPTY)


def current_fields() -> Mapping[str, object]:
    return _fields.get()


def bind(**fields: object) -> Token[Mapping[str, object]]:
    """Add ``fields`` for what follows in this context; undo with :func:`unbind`."""
    return _fields.set(MappingProxyType({**_fields.get(), **fields}))


def unbind(token: Token[Mapping[str, object]]) -> None:
    _fields.reset(token)


@contextmanager
def log_fields(**fields: object) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)
