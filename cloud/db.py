"""The cloud database: one code path for PostgreSQL and SQLite, chosen by URL.

Models are bound to :data:`database_proxy`; nothing is connected at import.
A process calls :func:`open_database` once (the API, an ingest worker, a CLI
command, a test) and may call it again to point the same models elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from peewee import (
    Database,
    DatabaseProxy,
    InterfaceError,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
)
from playhouse.db_url import connect, parse

from cloud.errors import CloudError

__all__ = [
    "DatabaseUrlError",
    "ReconnectingPostgresqlDatabase",
    "database_proxy",
    "describe_url",
    "insert_rows",
    "is_postgres",
    "is_sqlite",
    "open_database",
    "write_transaction",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

database_proxy = DatabaseProxy()
"""Every model's database. Initialised by :func:`open_database`."""

# SQLite as a server-side store: WAL so readers never block the writer, foreign
# keys on (off by default in SQLite), and a busy timeout instead of instant
# "database is locked" when the API and an ingest worker write at once.
_SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "busy_timeout": 10_000,
    "cache_size": -32_000,
}

_SCHEMES = ("sqlite", "postgres", "postgresql")


class DatabaseUrlError(CloudError, ValueError):
    """A database URL that cannot be used; the message says what would work."""


class ReconnectingPostgresqlDatabase(PostgresqlDatabase):
    """PostgreSQL whose per-thread connections outlive the server dropping them.

    A server restart, a failover or an idle-connection killer closes connections
    under the threads that hold them. psycopg2 notices only when one is next
    used, and from then on every use of that connection fails: without this, an
    API thread would answer with errors until the process restarts. Here a
    thread's connection found closed is replaced before its next statement or
    transaction (never inside a transaction: its work went with the connection,
    and the error reaches the caller), and a SELECT outside a transaction that
    meets a dropped connection is retried once on a fresh one (a read: nothing
    can be applied twice).
    """

    def cursor(self, named_cursor: Any = None) -> Any:
        if self._dropped() and not self.in_transaction():
            log.warning("the database closed this thread's connection; opening a new one")
            self.close()
        return super().cursor(named_cursor)

    def begin(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().begin(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if not self._dropped():
                raise
            super().begin(*args, **kwargs)  # BEGIN did nothing yet: safe to send again

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        run = super().execute_sql
        if sql.lstrip()[:6].upper() != "SELECT":
            return run(sql, params)
        return self.retrying_read(lambda: run(sql, params))

    def retrying_read(self, read: Callable[[], T]) -> T:
        """``read()`` (statements that only read, raising peewee's errors); if it met a
        connection the server had dropped, and no transaction is open, once more on a
        new one (:meth:`cursor` replaces it)."""
        try:
            return read()
        except (OperationalError, InterfaceError):
            if self.in_transaction() or not self._dropped():
                raise
            return read()

    def _dropped(self) -> bool:
        connection = self._state.conn  # type: ignore[attr-defined]
        return connection is not None and bool(connection.closed)


def open_database(url: str) -> Database:
    """Connect the models to ``url`` (``sqlite:///path`` or ``postgresql://…/db``).

    The connection itself opens lazily, per thread, on first use.
    """
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise DatabaseUrlError(
            f"unsupported database URL scheme {scheme!r} in {describe_url(url)}; "
            "use sqlite:///path/to/cloud.db or postgresql://user:pass@host:5432/dbname"
        )
    try:
        if scheme == "sqlite":
            database: Database = _open_sqlite(url)
        else:
            database = ReconnectingPostgresqlDatabase(**parse(url, unquote_password=True))
    except ValueError as exc:
        raise DatabaseUrlError(f"{describe_url(url)}: {exc}") from None
    database_proxy.initialize(database)
    return database


def _open_sqlite(url: str) -> Database:
    database: Database = connect(url, pragmas=_SQLITE_PRAGMAS, timeout=10)
    path = database.database
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return database


def is_postgres(database: Database | DatabaseProxy | None = None) -> bool:
    return isinstance(_resolve(database), PostgresqlDatabase)


def is_sqlite(database: Database | DatabaseProxy | None = None) -> bool:
    return isinstance(_resolve(database), SqliteDatabase)


def _resolve(database: Database | DatabaseProxy | None) -> Database:
    target = database if database is not None else database_proxy
    if isinstance(target, DatabaseProxy):
        if target.obj is None:
            raise RuntimeError("no database opened; call cloud.db.open_database(url) first")
        return cast(Database, target.obj)
    return target


def describe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def write_transaction(database: Database | DatabaseProxy | None = None) -> Any:
    """A transaction that will write after reading (read-modify-write).

    On SQLite it takes the write lock at ``BEGIN`` (``IMMEDIATE``): a deferred
    transaction that reads and then tries to write while another connection
    writes fails at once with "database is locked", busy timeout or not.
    """
    target = database if database is not None else database_proxy
    return target.atomic("IMMEDIATE") if is_sqlite(target) else target.atomic()


def insert_rows(
    database: Database, model: Any, rows: list[dict[str, Any]], *, chunk: int = 200
) -> None:
    """A plain multi-row ``INSERT`` of ``rows`` (field name -> value, the same names in
    every row), the values converted by the fields as peewee converts them and missing
    fields given their defaults.

    For bulk writes on a request's path: peewee's ``insert_many`` builds its SQL value
    by value, which for a two-year series (104 sessions of 26 columns, and their
    transitions and busy rows) cost several times what the database took to insert.
    """
    if not rows:
        return
    meta = model._meta
    names = list(rows[0])
    defaults = {
        name: field.default
        for name, field in meta.fields.items()
        if name not in names and field.default is not None
    }
    fields = [meta.fields[name] for name in [*names, *defaults]]
    columns = ", ".join(f'"{field.column_name}"' for field in fields)
    one = "(" + ", ".join([database.param] * len(fields)) + ")"
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        params: list[Any] = []
        for row in part:
            for field in fields:
                if field.name in row:
                    value = row[field.name]
                else:
                    default = defaults[field.name]
                    value = default() if callable(default) else default
                params.append(field.db_value(value))
        database.execute_sql(
            f'INSERT INTO "{meta.table_name}" ({columns}) VALUES ' + ", ".join([one] * len(part)),
            params,
        )
