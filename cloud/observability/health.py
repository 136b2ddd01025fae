"""Liveness and readiness: answered in milliseconds, never held by a dead dependency.

``/healthz`` says the process answers (and, for the ingest, that its threads
run): it touches no dependency, so a load balancer or supervisor never restarts
a healthy process because the database is slow. ``/readyz`` says whether the
process can do its work now: the database answers and its schema is the one
this code needs, and the broker connection is up.

Each check runs on a thread of its own, one run at a time. A report waits for
all of them together for at most ``timeout_s``; a check that has not answered
by then is reported as failing ("did not answer within 1.0 s") while it goes on
in the background, and the next report waits for that same run instead of
starting another, so a dead dependency never piles up threads or connections.
A result is reused for ``cache_s``, so a burst of probes costs one check.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from peewee import Database, PostgresqlDatabase, SqliteDatabase

__all__ = [
    "BrokerCheck",
    "CheckResult",
    "DatabaseCheck",
    "Readiness",
    "ReadinessReport",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    checks: tuple[CheckResult, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "unavailable",
            "checks": [check.as_json() for check in self.checks],
        }

    def reasons(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.ok)


class Check(Protocol):
    """A dependency check: returns what it found, raises if the dependency is not usable."""

    name: str

    def __call__(self) -> str: ...


class _Runner:
    """One check's single-flight runs and its last result."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.lock = threading.Lock()
        self.result: CheckResult | None = None
        self.finished_at = 0.0
        self.running: threading.Event | None = None

    def start(self, cache_s: float) -> threading.Event | None:
        """None when the cached result is fresh; else the event of the run to wait for."""
        with self.lock:
            if self.result is not None and time.monotonic() - self.finished_at < cache_s:
                return None
            if self.running is None:
                self.running = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(self.running,), name=f"check-{self.check.name}"
                )
                thread.daemon = True
                thread.start()
            return self.running

    def _run(self, done: threading.Event) -> None:
        started = time.monotonic()
        try:
            detail, ok = self.check(), True
        except Exception as exc:  # what failed is the answer
            detail, ok = _describe(exc), False
        finished = time.monotonic()
        with self.lock:
            self.result = CheckResult(self.check.name, ok, detail, finished - started)
            self.finished_at = finished
            self.running = None
        done.set()


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class Readiness:
    def __init__(self, checks: Sequence[Check], *, timeout_s: float, cache_s: float) -> None:
        self._runners = [_Runner(check) for check in checks]
        self.timeout_s = timeout_s
        self.cache_s = cache_s

    def report(self) -> ReadinessReport:
        started = time.monotonic()
        waits = [(runner, runner.start(self.cache_s)) for runner in self._runners]
        deadline = started + self.timeout_s
        results = []
        for runner, running in waits:
            if running is not None and not running.wait(max(0.0, deadline - time.monotonic())):
                results.append(
                    CheckResult(
                        runner.check.name,
                        False,
                        f"did not answer within {self.timeout_s:g} s",
                        time.monotonic() - started,
                    )
                )
                continue
            with runner.lock:
                result = runner.result
            assert result is not None  # set before its run's event
            results.append(result)
        return ReadinessReport(tuple(results))


class DatabaseCheck:
    """The database answers on a connection of the check's own, within the timeout, and
    its schema is at ``expected_version`` (the newest migration this code has)."""

    name = "database"

    def __init__(self, database: Database, *, expected_version: int, timeout_s: float) -> None:
        self.database = database
        self.expected_version = expected_version
        self.timeout_s = timeout_s
        self._connection: Any = None

    def __call__(self) -> str:
        try:
            version = self._schema_version()
        except Exception:
            self._drop()
            raise
        if version < self.expected_version:
            raise RuntimeError(
                f"schema version {version}, this code needs {self.expected_version}: "
                "run `sideline cloud migrate`"
            )
        if version > self.expected_version:
            raise RuntimeError(
                f"schema version {version} is newer than this code knows "
                f"({self.expected_version}): upgrade this process"
            )
        return f"schema version {version} (current)"

    def _schema_version(self) -> int:
        if self._connection is None:
            self._connection = self._connect()
        cursor = self._connection.cursor()
        try:
            cursor.execute("SELECT coalesce(max(version), 0) FROM schema_version")
            row = cursor.fetchone()
        finally:
            cursor.close()
        if isinstance(self.database, PostgresqlDatabase):
            self._connection.rollback()  # end the read's transaction: no snapshot held
        return int(row[0]) if row else 0

    def _connect(self) -> Any:
        if isinstance(self.database, SqliteDatabase):
            return sqlite3.connect(
                self.database.database, timeout=self.timeout_s, check_same_thread=False
            )
        if isinstance(self.database, PostgresqlDatabase):
            import psycopg2

            params = dict(self.database.connect_params)
            params["connect_timeout"] = max(1, round(self.timeout_s))
            # A server that accepted the connection but hangs is cut off here too.
            options = f"-c statement_timeout={int(self.timeout_s * 1000)}"
            params["options"] = f"{params['options']} {options}" if "options" in params else options
            return psycopg2.connect(database=self.database.database, **params)
        raise RuntimeError(f"no readiness check for {type(self.database).__name__}")

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already broken
                pass


class BrokerState(Protocol):
    @property
    def is_connected(self) -> bool: ...


class BrokerCheck:
    """The process's MQTT connection is up. paho notices a closed connection at once
    and a broker that hangs without closing within 1.5 keep-alives (45 s)."""

    name = "broker"

    def __init__(self, client: BrokerState, *, where: str, extra: Callable[[], str] | None = None):
        self.client = client
        self.where = where
        self.extra = extra

    def __call__(self) -> str:
        if not self.client.is_connected:
            detail = self.extra() if self.extra is not None else ""
            raise RuntimeError(
                f"not connected to the MQTT broker at {self.where}{f' ({detail})' if detail else ''}"
            )
        return f"connected to {self.where}"
