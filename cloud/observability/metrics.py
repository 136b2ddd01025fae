"""Prometheus metrics of the cloud's processes (``prometheus-client``).

Names follow Prometheus' conventions: ``sideline_<process>_<what>_<unit>``, base
units (seconds, bytes), counters end in ``_total``; labels are bounded sets
(route templates, channels, codes), never ids a client chooses.

**Several API workers.** ``sideline cloud api --workers N`` runs N processes
behind one port. Each would otherwise count alone and a scrape would see one of
them at random, so the parent gives them prometheus-client's multiprocess mode:
:func:`prepare_multiprocess_dir` empties a directory and names it in
``PROMETHEUS_MULTIPROC_DIR`` before the workers start; each worker then keeps its
values in memory-mapped files there, and :func:`exposition` (whichever worker
answers the scrape) sums every worker's. A worker that stops cleanly removes its
live gauges (:func:`process_exited`); one that was killed is recognised at the
next scrape by its pid no longer running. Counters of a gone worker stay in the
sum, so a counter never goes backwards when a worker is replaced.

The ingest and the jobs runner are one process each with their own endpoint
(``ingest.http_port``), so they use the ordinary registry.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from peewee import Database
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "exposition",
    "instrument_database",
    "multiprocess_enabled",
    "prepare_multiprocess_dir",
    "process_exited",
]

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

DB_CONNECTIONS = Gauge(
    "sideline_db_connections",
    "Database connections this process holds open (one per thread that used the database).",
    multiprocess_mode="livesum",
)
DB_CONNECTS = Counter(
    "sideline_db_connections_opened_total",
    "Database connections opened (a reconnect after the server dropped one counts too).",
)
DB_CONNECT_ERRORS = Counter(
    "sideline_db_connection_errors_total", "Attempts to open a database connection that failed."
)

_LIVE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def prepare_multiprocess_dir(path: Path) -> None:
    """Empty ``path`` and name it in the environment, before any worker starts.

    Called by the process that spawns the API workers (they inherit the
    environment); values left there by an earlier run would be summed in."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)


def process_exited(pid: int | None = None) -> None:
    """Drop the live gauges of a worker that stopped (this one by default)."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid if pid is not None else os.getpid())


def _forget_killed_workers(directory: str) -> None:
    """Live gauges of a pid that no longer runs belong to a killed worker."""
    for name in os.listdir(directory):
        match = _LIVE_FILE.match(name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid)
            log.info("metrics: forgot the live gauges of worker %d, which is gone", pid)
        except PermissionError:
            continue  # running, as another user


def exposition() -> bytes:
    """The text format of every metric of this process (or of all API workers)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    _forget_killed_workers(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


def instrument_database(database: Database) -> Database:
    """Count ``database``'s connections as they open and close (``sideline_db_*``).

    peewee opens one connection per thread on first use and closes it on
    ``close()`` (or when :class:`cloud.db.ReconnectingPostgresqlDatabase`
    replaces one the server dropped); wrapping its two hooks sees every one."""
    target: Any = database  # peewee's connection hooks are not in its type hints
    if getattr(target, "_sideline_instrumented", False):
        return database
    connect, close = target._connect, target._close

    def counted_connect(*args: Any, **kwargs: Any) -> Any:
        try:
            connection = connect(*args, **kwargs)
        except Exception:
            DB_CONNECT_ERRORS.inc()
            raise
        DB_CONNECTS.inc()
        DB_CONNECTIONS.inc()
        return connection

    def counted_close(connection: Any) -> Any:
        try:
            return close(connection)
        finally:
            DB_CONNECTIONS.dec()

    target._connect = counted_connect
    target._close = counted_close
    target._sideline_instrumented = True
    return database
