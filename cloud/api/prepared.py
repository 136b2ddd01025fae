"""Selects on the hot path, rendered by peewee once and then reused.

Measured here, peewee's query builder costs 2-4 ms to render a join (auth, a
session with its form version), several times what PostgreSQL takes to run
it; every request runs two or three. A :class:`PreparedSelect` renders its
query once per dialect with named markers where the values go, then only fills
in parameters (converted by the fields' ``db_value``) and converts the columns
back with the fields' ``python_value`` — the same conversions peewee applies —
into dicts.

    TOKEN = PreparedSelect(lambda p: ApiToken.select(...).where(ApiToken.token_hash == p.one("hash", ApiToken.token_hash)))
    row = TOKEN.first(db, hash=...)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from peewee import SQL, Alias, Database, DatabaseProxy, Field

__all__ = ["Markers", "PreparedSelect"]

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
                columns.append((name, field.python_value))
            rendered = self._rendered[type(database)] = _Rendered(
                sql, list(constants), columns, markers.fields
            )
        return rendered

    def rows(self, database: Database | DatabaseProxy, **values: Any) -> list[dict[str, Any]]:
        target: Database = database.obj if isinstance(database, DatabaseProxy) else database
        rendered = self._render(target)
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
            params.extend(field.db_value(item) for item in items)
            return ", ".join([target.param] * len(items)) or "NULL"

        sql = _MARKER.sub(fill, rendered.sql)
        cursor = target.execute_sql(sql, params)
        columns = rendered.columns
        return [
            {name: convert(value) for (name, convert), value in zip(columns, row, strict=True)}
            for row in cursor.fetchall()
        ]

    def first(self, database: Database | DatabaseProxy, **values: Any) -> dict[str, Any] | None:
        found = self.rows(database, **values)
        return found[0] if found else None
