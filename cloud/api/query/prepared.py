"""Selects on the hot path, rendered by peewee once and then reused.

Measured here, peewee's query builder costs 2-4 ms to render a join (auth, a
session with its form version), several times what PostgreSQL takes to run
it; every request runs two or three. A :class:`PreparedSelect` renders its
query once per dialect with named markers where the values go, then only fills
in parameters (converted by the fields' ``db_value``) and converts the columns
back with the fields' ``python_value`` — the same conversions peewee applies —
into dicts, except that ids are canonical text (converting 300 ids a page to
``uuid.UUID`` and back to text for JSON was the largest single cost).

    TOKEN = PreparedSelect(lambda p: ApiToken.select(...).where(ApiToken.token_hash == p.one("hash", ApiToken.token_hash)))
    row = TOKEN.first(db, hash=...)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from peewee import (
    SQL,
    Alias,
    BinaryUUIDField,
    BooleanField,
    CharField,
    Database,
    DatabaseProxy,
    Field,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    PostgresqlDatabase,
    TextField,
    UUIDField,
)
from peewee import __exception_wrapper__ as driver_errors_as_peewee  # type: ignore[attr-defined]

from cloud.db import ReconnectingPostgresqlDatabase
from cloud.models import BaseModel, StrEnumField

M = TypeVar("M", bound=BaseModel)

__all__ = ["Markers", "PreparedSelect", "as_model"]

_MARKER = re.compile(r"__([plc])_([a-z0-9_]+?)__")


class Markers:
    """Hands out the placeholders a query is built with, and remembers their fields."""

    def __init__(self) -> None:
        self.fields: dict[str, Field] = {}

    def one(self, name: str, field: Field) -> SQL:
        """A single value, converted by ``field``."""
        self.fields[name] = field
        return SQL(f"__p_{name}__")

    def many(self, name: str, field: Field) -> SQL:
        """A parenthesised list of values for ``IN``."""
        self.fields[name] = field
        return SQL(f"(__l_{name}__)")


class _Rendered:
    def __init__(
        self,
        sql: str,
        constants: list[Any],
        columns: list[tuple[str, Any]],
        fields: dict[str, Field],
    ) -> None:
        self.sql = sql
        self.constants = constants  # values fixed in the query itself (e.g. 'draft')
        self.columns = columns
        self.fields = fields


# What psycopg2 already returns as the field's Python type: no conversion needed.
_NATIVE_ON_POSTGRES = (IntegerField, FloatField, BooleanField, CharField, TextField, JSONField)


def _is_uuid(field: Field) -> bool:
    target = field.rel_field if isinstance(field, ForeignKeyField) else field
    return isinstance(target, UUIDField | BinaryUUIDField)


def _as_text(python_value: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return None if value is None else str(python_value(value))

    return convert


def _converter(database: Database, field: Field) -> Callable[[Any], Any] | None:
    """How to turn the driver's value into the row's: ids become canonical text
    (``"0190…-…"``) on both databases, everything else the field's Python type."""
    postgres = isinstance(database, PostgresqlDatabase)
    if _is_uuid(field):
        return None if postgres else _as_text(field.python_value)
    target = field.rel_field if isinstance(field, ForeignKeyField) else field
    if (
        postgres
        and isinstance(target, _NATIVE_ON_POSTGRES)
        and not isinstance(target, StrEnumField)
    ):
        return None
    return field.python_value


def _uuid_param(value: Any, *, postgres: bool) -> str:
    """An id as the database takes it: canonical text for PostgreSQL's ``uuid``,
    32 hex digits as peewee stores them on SQLite (without building a UUID)."""
    text = str(value)
    if len(text) == 36:
        return text if postgres else text.replace("-", "")
    return UUID(text).hex if not postgres else str(UUID(text))


def _uuid_as_text(value: str | bytes | None, cursor: Any) -> Any:
    return value


def _uuid_text_type() -> Any:
    try:
        import psycopg2.extensions
    except ImportError:  # SQLite-only installs
        return None
    return psycopg2.extensions.new_type((2950,), "UUID_AS_TEXT", _uuid_as_text)


_UUID_TEXT = _uuid_text_type()


class PreparedSelect:
    def __init__(self, build: Callable[[Markers], Any]) -> None:
        self._build = build
        self._rendered: dict[type[Database], _Rendered] = {}

    def _render(self, database: Database) -> _Rendered:
        rendered = self._rendered.get(type(database))
        if rendered is None:
            markers = Markers()
            query = self._build(markers)
            sql, constants = query.sql()
            # Constant parameters become markers too, so all values fill in in order.
            pieces = sql.split(database.param)
            if len(pieces) != len(constants) + 1:
                raise ValueError(f"cannot place the parameters of {sql!r}")
            sql = "".join(
                piece + (f"__c_{n}__" if n < len(constants) else "")
                for n, piece in enumerate(pieces)
            )
            columns: list[tuple[str, Any]] = []
            for node in query._returning:
                field = node.node if isinstance(node, Alias) else node
                if not isinstance(field, Field):
                    raise TypeError(f"select fields (or aliases of them), not {node!r}")
                name = node._alias if isinstance(node, Alias) else field.name  # type: ignore[attr-defined]
                columns.append((name, _converter(database, field)))
            rendered = self._rendered[type(database)] = _Rendered(
                sql, list(constants), columns, markers.fields
            )
        return rendered

    def statement(self, database: Database | DatabaseProxy, **values: Any) -> tuple[str, list[Any]]:
        """The SQL and parameters :meth:`rows` runs (for EXPLAIN, or timing the SQL alone)."""
        target: Database = database.obj if isinstance(database, DatabaseProxy) else database
        rendered = self._render(target)
        postgres = isinstance(target, PostgresqlDatabase)
        params: list[Any] = []

        def fill(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2)
            if kind == "c":
                params.append(rendered.constants[int(name)])
                return str(target.param)
            field, value = rendered.fields[name], values[name]
            if kind == "p":
                params.append(field.db_value(value))
                return str(target.param)
            items: Sequence[Any] = value
            if _is_uuid(field):
                params.extend(_uuid_param(item, postgres=postgres) for item in items)
            else:
                params.extend(field.db_value(item) for item in items)
            return ", ".join([target.param] * len(items)) or "NULL"

        return _MARKER.sub(fill, rendered.sql), params

    def rows(self, database: Database | DatabaseProxy, **values: Any) -> list[dict[str, Any]]:
        target: Database = database.obj if isinstance(database, DatabaseProxy) else database
        sql, params = self.statement(target, **values)
        rendered = self._render(target)
        if isinstance(target, PostgresqlDatabase):
            cursor = _select_with_text_ids(target, sql, params)
        else:
            cursor = target.execute_sql(sql, params)
        columns = rendered.columns
        names = [name for name, _ in columns]
        converted = [(n, convert) for n, (_, convert) in enumerate(columns) if convert is not None]
        found = []
        for raw in cursor.fetchall():
            row = list(raw)
            for index, convert in converted:
                row[index] = convert(row[index])
            found.append(dict(zip(names, row, strict=True)))
        return found

    def first(self, database: Database | DatabaseProxy, **values: Any) -> dict[str, Any] | None:
        found = self.rows(database, **values)
        return found[0] if found else None


def _select_with_text_ids(database: PostgresqlDatabase, sql: str, params: list[Any]) -> Any:
    """Run the SELECT as ``execute_sql`` would (errors as peewee's, a dropped
    connection replaced), but with uuid columns left as text for this cursor:
    psycopg2 turns every uuid into a ``uuid.UUID`` (peewee registers that
    globally), the largest single cost of reading a page."""
    import psycopg2.extensions

    def run() -> Any:
        with driver_errors_as_peewee:
            cursor = database.cursor()
            psycopg2.extensions.register_type(_UUID_TEXT, cursor)
            cursor.execute(sql, params)
        return cursor

    if isinstance(database, ReconnectingPostgresqlDatabase):
        return database.retrying_read(run)
    return run()


def as_model(model: type[M], row: dict[str, Any]) -> M:
    """A model instance from a prepared row (ids back to ``uuid.UUID``), for code
    that works with models; extra keys become attributes, as with ``.objects()``."""
    fields = model._meta.fields
    values = {
        key: fields[key].python_value(value)
        if key in fields and value is not None and _is_uuid(fields[key])
        else value
        for key, value in row.items()
    }
    return model(**values)
