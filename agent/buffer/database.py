"""Opening the store's SQLite file: pragmas, migrations, and quarantine of a corrupt one.

A store that SQLite reports as corrupt (SQLITE_CORRUPT, SQLITE_NOTADB, or a
failing ``quick_check``) is *renamed* beside itself with its WAL, reported, and
replaced by a fresh one: the box keeps working, and the damaged file stays for
an operator (``sqlite3 buffer.db.corrupt-… .recover``). It is never deleted.
Any other failure (permissions, a locked file, a newer schema) is raised with
what to do, because a fresh store would not fix it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from peewee import SqliteDatabase

from agent.buffer.config import Durability
from agent.buffer.schema import migrate
from agent.errors import AgentError

__all__ = ["Quarantined", "StoreOpenError", "open_database"]

log = logging.getLogger(__name__)

_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_BUSY_TIMEOUT_S = 10.0
# Every thread of the agent that touches the store has its own connection (about
# eight), each with its own page cache: at 4 MiB each they would grow to 32 MiB as
# the store fills over the day. 1 MiB each, and SQLite's memory in the whole process
# held to 12 MiB (soft_heap_limit: caches are trimmed before it is passed). Measured
# in docs/budget.md; the outbox's hot pages are the partial indexes over unsynced rows.
CACHE_KIB = 1024
SOFT_HEAP_LIMIT_BYTES = 12 * 1024 * 1024


class StoreOpenError(AgentError, RuntimeError):
    """The store cannot be opened for a reason a fresh file would not fix."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    original: Path
    moved_to: Path
    reason: str
    at: datetime


def open_database(
    path: Path, *, durability: Durability = Durability.FULL, quick_check: bool = True
) -> tuple[SqliteDatabase, Quarantined | None]:
    """Open (creating or migrating) the store; quarantine it first if it is corrupt."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreOpenError(
            f"cannot create the store's directory {path.parent}: {exc}; "
            "check device.data_dir and its permissions"
        ) from None
    quarantined: Quarantined | None = None
    if path.exists():
        # Probing may checkpoint or drop the WAL; keep it as found until the verdict.
        wal = Path(f"{path}-wal")
        kept = Path(f"{path}-wal.as-found")
        if wal.exists() and wal.stat().st_size > 0:
            try:
                shutil.copy2(wal, kept)
            except OSError as exc:  # a full disk: probe without the copy
                log.warning("could not keep a copy of %s before checking it: %s", wal, exc)
                kept.unlink(missing_ok=True)
        problem = _probe(path, quick_check)
        if problem is not None:
            if kept.exists():
                os.replace(kept, wal)
            quarantined = _quarantine(path, problem)
        kept.unlink(missing_ok=True)
    _prepare(path)
    database = SqliteDatabase(
        str(path),
        pragmas=_pragmas(durability),
        timeout=_BUSY_TIMEOUT_S,
        check_same_thread=False,
    )
    database.connect(reuse_if_open=True)
    return database, quarantined


def _pragmas(durability: Durability) -> list[tuple[str, object]]:
    return [
        ("journal_mode", "wal"),
        ("synchronous", "full" if durability is Durability.FULL else "normal"),
        ("busy_timeout", int(_BUSY_TIMEOUT_S * 1000)),
        # Keep the WAL from staying at its high-water mark after a checkpoint.
        ("journal_size_limit", 64 * 1024 * 1024),
        ("cache_size", -CACHE_KIB),
        ("soft_heap_limit", SOFT_HEAP_LIMIT_BYTES),
        ("temp_store", "memory"),
    ]


def _connect_raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None, timeout=_BUSY_TIMEOUT_S)


def _probe(path: Path, quick_check: bool) -> str | None:
    """None if the file is a healthy store; otherwise why it is not."""
    try:
        connection = _connect_raw(path)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if quick_check:
                rows = connection.execute("PRAGMA quick_check").fetchall()
                verdict = "; ".join(str(row[0]) for row in rows[:5])
                if verdict != "ok":
                    return f"quick_check failed: {verdict}"
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) in _CORRUPT_CODES:
            return f"{exc} (SQLite error {exc.sqlite_errorname})"
        raise StoreOpenError(
            f"cannot open the store {path}: {exc}; check the file's owner and permissions "
            "and that no other agent is running on it"
        ) from None
    return None


def _quarantine(path: Path, reason: str) -> Quarantined:
    stamp = datetime.now(UTC)
    target = path.with_name(f"{path.name}.corrupt-{stamp:%Y%m%dT%H%M%SZ}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{target}{suffix}"))
    _fsync_directory(path.parent)
    log.critical(
        "local store %s is corrupt (%s); moved it to %s and started a fresh store. "
        "Records that were in it and not yet synced are not in the new store; "
        "`sqlite3 %s .recover` can salvage them",
        path,
        reason,
        target,
        target,
    )
    return Quarantined(original=path, moved_to=target, reason=reason, at=stamp)


def _prepare(path: Path) -> None:
    """Set WAL mode and bring the schema up to date, on a plain connection."""
    try:
        connection = _connect_raw(path)
        try:
            connection.execute("PRAGMA journal_mode=wal")
            migrate(connection)
        finally:
            connection.close()
    except sqlite3.OperationalError as exc:
        raise StoreOpenError(
            f"cannot prepare the store {path}: {exc}; check free space and permissions"
        ) from None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
