"""Telling SQLite failures apart: a full disk is waited out, corruption is reported.

peewee wraps :mod:`sqlite3` exceptions in its own classes with the original as
the first argument; these helpers look through that wrapping.
"""

from __future__ import annotations

import errno
import sqlite3

__all__ = ["is_corrupt", "is_disk_full", "sqlite_cause"]

_FULL_CODES = {sqlite3.SQLITE_FULL}
_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def sqlite_cause(exc: BaseException) -> sqlite3.Error | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error):
            return current
        if current.args and isinstance(current.args[0], sqlite3.Error):
            return current.args[0]
        current = current.__cause__ or current.__context__
    return None


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL, or an ENOSPC that reached us as an OSError."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    cause = sqlite_cause(exc)
    if cause is None:
        return False
    if _primary_code(cause) in _FULL_CODES:
        return True
    return "disk is full" in str(cause)


def is_corrupt(exc: BaseException) -> bool:
    cause = sqlite_cause(exc)
    return cause is not None and _primary_code(cause) in _CORRUPT_CODES
