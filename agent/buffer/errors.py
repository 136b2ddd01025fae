"""Telling SQLite failures apart: a full disk is waited out, corruption is reported.

peewee wraps :mod:`sqlite3` exceptions in its own classes (the original as
``.orig`` and as the context); these helpers look through that wrapping.
"""

from __future__ import annotations

import errno
import sqlite3

__all__ = ["is_corrupt", "is_disk_full", "sqlite_cause"]

_FULL_CODES = {sqlite3.SQLITE_FULL}
_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from or while handling."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
    return seen


def sqlite_cause(exc: BaseException) -> sqlite3.Error | None:
    for item in _chain(exc):
        if isinstance(item, sqlite3.Error):
            return item
    return None


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL or ENOSPC anywhere in the chain. (On SQLITE_FULL SQLite may roll the
    transaction back itself; peewee's own ROLLBACK then fails with "no transaction is
    active", and the real reason is that error's context.)"""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(item, sqlite3.Error) and (
            _primary_code(item) in _FULL_CODES or "disk is full" in str(item)
        ):
            return True
    return False


def is_corrupt(exc: BaseException) -> bool:
    return any(
        isinstance(item, sqlite3.Error) and _primary_code(item) in _CORRUPT_CODES
        for item in _chain(exc)
    )
