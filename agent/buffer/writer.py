"""Group commit: producers' inserts share one transaction, and each caller waits for it.

``synchronous=FULL`` costs one fsync per commit. Committing every record on its
own would cap the store at the disk's fsync rate (tens per second on an SD
card); here every insert that arrives while a commit is under way joins the
next one, so the fsync is shared and ``submit`` still returns only once its
rows are durable.

A full disk does not fail the callers at once: the writer asks for space
(``on_disk_full`` evicts clips and releases the reserve file) and retries until
each caller's own deadline, then raises :class:`StoreUnavailable` for the rows
it could not store. Rows are never half-stored: each commit is one transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from peewee import Database, DatabaseError

from agent.buffer.errors import is_disk_full
from agent.buffer.models import Tables
from agent.interfaces.sinks import StoreUnavailable
from agent.ratelog import RateLimitedLog

__all__ = ["GroupCommitWriter"]

log = logging.getLogger(__name__)

_MAX_ROWS_PER_COMMIT = 20_000
_FULL_RETRY_S = (0.05, 2.0)


class _Phase(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"


Statement = tuple[str, tuple[Any, ...]]


@dataclass(eq=False)
class _Write:
    table: str  # "logs", "events", "clips", or what ``statements`` touch
    rows: list[dict[str, Any]]
    deadline: float  # monotonic
    statements: tuple[Statement, ...] = ()  # run after the rows, in the same transaction
    phase: _Phase = _Phase.QUEUED
    error: BaseException | None = None
    finished: threading.Event = field(default_factory=threading.Event)


class GroupCommitWriter:
    """Owns the insert path of one store. ``run()`` on its own thread; ``stop()`` drains."""

    def __init__(
        self,
        database: Database,
        tables: Tables,
        *,
        on_disk_full: Callable[[], None],
        on_error: Callable[[BaseException], None] = lambda exc: None,
    ) -> None:
        self._database = database
        self._tables = tables
        self._on_disk_full = on_disk_full
        self._on_error = on_error
        self._queue: deque[_Write] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._last_tick = time.monotonic()
        self.commits = 0
        self.rows_committed = 0
        self.rows_refused = 0
        self._full_log = RateLimitedLog(log)

    # --- callers -------------------------------------------------------------

    def submit(
        self,
        table: str,
        rows: list[dict[str, Any]],
        timeout_s: float,
        *,
        statements: tuple[Statement, ...] = (),
    ) -> None:
        """Insert ``rows`` (duplicates by id are ignored), then run ``statements``, in one
        transaction; return once committed."""
        if not rows and not statements:
            return
        write = _Write(table, rows, time.monotonic() + timeout_s, statements)
        with self._cond:
            if self._stopping:
                raise StoreUnavailable("the store is shutting down; the record was not stored")
            self._queue.append(write)
            self._cond.notify_all()
        if not write.finished.wait(timeout_s):
            with self._cond:
                if write.phase is _Phase.QUEUED:
                    self._queue.remove(write)
                    write.phase = _Phase.FINISHED
                    write.error = StoreUnavailable(
                        f"the store could not commit {len(rows)} {table} row(s) within "
                        f"{timeout_s:.1f} s (is the disk full?); they were not stored"
                    )
                    self.rows_refused += len(rows)
                    write.finished.set()
            write.finished.wait()  # a running commit ends soon either way
        if write.error is not None:
            raise write.error

    # --- the writer thread ---------------------------------------------------

    def alive(self, within_s: float) -> bool:
        return time.monotonic() - self._last_tick < within_s

    def stop(self) -> None:
        """Refuse new writes; ``run()`` returns once the queue is empty."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def run(self) -> None:
        delay = _FULL_RETRY_S[0]
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait(1.0)
                    self._last_tick = time.monotonic()
                if not self._queue:
                    return
                batch = self._take_batch()
            self._last_tick = time.monotonic()
            if self._commit(batch):
                delay = _FULL_RETRY_S[0]
                continue
            # Disk full: give the writes back (callers may still cancel), make room, retry.
            with self._cond:
                for write in reversed(batch):
                    write.phase = _Phase.QUEUED
                    self._queue.appendleft(write)
                self._expire(time.monotonic())
                self._cond.wait(delay)
            delay = min(delay * 2, _FULL_RETRY_S[1])

    def _take_batch(self) -> list[_Write]:
        batch: list[_Write] = []
        rows = 0
        while self._queue and (
            not batch or rows + len(self._queue[0].rows) <= _MAX_ROWS_PER_COMMIT
        ):
            write = self._queue.popleft()
            write.phase = _Phase.RUNNING
            batch.append(write)
            rows += len(write.rows)
        return batch

    def _commit(self, batch: list[_Write]) -> bool:
        """True when the batch is finished (stored, or failed for good); False: disk full."""
        try:
            self._insert(batch)
        except DatabaseError as exc:
            if is_disk_full(exc):
                self._full_log.log(
                    logging.ERROR,
                    "full",
                    "the store's disk is full (SQLITE_FULL); freeing space and retrying",
                )
                self._make_room()
                return False
            self._on_error(exc)
            if len(batch) > 1:
                # Something in one write is wrong: find it, store the others.
                for write in batch:
                    self._commit([write])
                return True
            log.error("could not store %d %s row(s): %s", len(batch[0].rows), batch[0].table, exc)
            self._finish(batch, StoreUnavailable(f"the store refused the write: {exc}"))
            return True
        if self._full_log.clear("full"):
            log.warning("the store can write again")
        self.commits += 1
        self.rows_committed += sum(len(w.rows) for w in batch)
        self._finish(batch, None)
        return True

    def _insert(self, batch: list[_Write]) -> None:
        with self._database.atomic("IMMEDIATE"):
            cursor = self._database.cursor()
            for write in batch:
                if write.rows:
                    table = getattr(self._tables, write.table)
                    sql, params = _insert_statement(table, write.rows)
                    cursor.executemany(sql, params)
                for sql, values in write.statements:
                    cursor.execute(sql, values)

    def _make_room(self) -> None:
        try:
            self._on_disk_full()
        except Exception:  # the writer must survive whatever eviction hits
            log.exception("freeing disk space failed")

    def _finish(self, batch: list[_Write], error: BaseException | None) -> None:
        with self._cond:
            for write in batch:
                write.phase = _Phase.FINISHED
                write.error = error
                if error is not None:
                    self.rows_refused += len(write.rows)
                write.finished.set()

    def _expire(self, now: float) -> None:
        expired = [w for w in self._queue if w.deadline <= now]
        for write in expired:
            self._queue.remove(write)
            write.phase = _Phase.FINISHED
            write.error = StoreUnavailable(
                f"the disk stayed full; {len(write.rows)} {write.table} row(s) were not stored"
            )
            self.rows_refused += len(write.rows)
            write.finished.set()


def _insert_statement(table: Any, rows: list[dict[str, Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    """``INSERT OR IGNORE`` with ``executemany``: peewee's own insert_many builds the SQL
    text row by row, which costs 12 times the insert itself at producer rates."""
    columns = list(rows[0])
    fields = [table._meta.fields[name] for name in columns]
    names = ", ".join(f'"{field.column_name}"' for field in fields)
    marks = ", ".join("?" for _ in fields)
    sql = f'INSERT OR IGNORE INTO "{table._meta.table_name}" ({names}) VALUES ({marks})'
    params = [
        tuple(f.db_value(row[c]) for f, c in zip(fields, columns, strict=True)) for row in rows
    ]
    return sql, params
