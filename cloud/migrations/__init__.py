"""Versioned schema migrations: numbered modules, applied in order, recorded.

Each migration is a module ``vNNNN_name.py`` in this package with
``apply(database)``. Applied versions are rows of ``schema_version``; a
migration and its row commit together, so a crash leaves either both or
neither. Concurrent starters (two ingest workers, the API) serialise on a lock:
PostgreSQL's advisory lock, SQLite's write lock.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from peewee import Database

from cloud.db import describe_url, is_postgres, is_sqlite, open_database
from cloud.errors import CloudError
from cloud.models.base import UtcDateTimeField, utc_now

__all__ = [
    "Migration",
    "SchemaBehind",
    "SchemaTooNew",
    "applied_versions",
    "available_migrations",
    "current_version",
    "migrate",
    "open_current_database",
]

log = logging.getLogger(__name__)

_MODULE_NAME = re.compile(r"^v(\d{4})_([a-z0-9_]+)$")
_ADVISORY_LOCK_KEY = 0x51DE11E  # any constant unique to this application


class SchemaTooNew(CloudError, RuntimeError):
    """The database was migrated by a newer Sideline than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Database], None]


_CREATE_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(128) NOT NULL, "
    "applied_at TIMESTAMPTZ NOT NULL)"
)


def available_migrations() -> list[Migration]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        match = _MODULE_NAME.match(module.name)
        if match is None:
            continue
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        found.append(Migration(int(match.group(1)), match.group(2), loaded.apply))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3, … without gaps; found {versions}")
    return found


def applied_versions(database: Database) -> list[int]:
    if "schema_version" not in database.get_tables():
        return []
    cursor = database.execute_sql("SELECT version FROM schema_version ORDER BY version")
    return [int(row[0]) for row in cursor.fetchall()]


def current_version(database: Database) -> int:
    versions = applied_versions(database)
    return versions[-1] if versions else 0


def migrate(database: Database, *, target: int | None = None) -> list[Migration]:
    """Apply every migration not yet applied (up to ``target``); return those applied."""
    migrations = available_migrations()
    newest = migrations[-1].version if migrations else 0
    target = newest if target is None else target
    with _locked(database):
        database.execute_sql(_CREATE_VERSION_TABLE)
    known = current_version(database)
    if known > newest:
        raise SchemaTooNew(
            f"the database is at schema version {known}, newer than this Sideline knows "
            f"({newest}); upgrade Sideline rather than run an older one against it"
        )
    applied: list[Migration] = []
    for migration in migrations:
        if migration.version > target:
            break
        with _locked(database):
            if migration.version in applied_versions(database):
                continue  # applied earlier, or by another process meanwhile
            log.info("applying migration %04d %s", migration.version, migration.name)
            migration.apply(database)
            database.execute_sql(
                f"INSERT INTO schema_version (version, name, applied_at) VALUES ({database.param}, {database.param}, {database.param})",
                (migration.version, migration.name, UtcDateTimeField().db_value(utc_now())),
            )
            applied.append(migration)
    return applied


@contextmanager
def _locked(database: Database) -> Iterator[None]:
    """A transaction that holds the migration lock until it commits."""
    if is_postgres(database):
        with database.atomic():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
            yield
    else:
        # Take SQLite's write lock when the transaction begins, not at its first
        # write, so two starters cannot both read "not applied" and both apply.
        with database.atomic("IMMEDIATE"):
            yield


class SchemaBehind(CloudError, RuntimeError):
    """The database needs migrations this process will not apply by itself."""


def open_current_database(url: str) -> Database:
    """Open ``url`` for a service (API, ingest) and make sure its schema is current.

    SQLite is the embedded one-machine default: it is migrated on the spot.
    PostgreSQL is shared by several processes and upgraded deliberately, so a
    schema behind the code is an error that says to run ``sideline cloud migrate``.
    """
    database = open_database(url)
    if is_sqlite(database):
        migrate(database)
        return database
    known, newest = current_version(database), len(available_migrations())
    if known > newest:
        raise SchemaTooNew(
            f"the database is at schema version {known}, newer than this Sideline knows "
            f"({newest}); upgrade Sideline"
        )
    if known < newest:
        raise SchemaBehind(
            f"the database {describe_url(url)} is at schema version {known}; this Sideline "
            f"needs {newest}: run `sideline cloud migrate` first"
        )
    return database
