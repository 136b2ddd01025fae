"""Render the current models' DDL for one dialect: how a migration's SQL is frozen.

``python -m cloud.migrations.render postgres > cloud/migrations/vNNNN_x.postgres.sql``
writes what ``create_tables`` would run, so a migration applies exactly that
and stays the same when the models move on.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from peewee import Database, PostgresqlDatabase, SqliteDatabase

from cloud.db import database_proxy
from cloud.models import ALL_MODELS, BaseModel

__all__ = ["DIALECTS", "render_ddl", "split_statements"]

DIALECTS: dict[str, type[Database]] = {"postgres": PostgresqlDatabase, "sqlite": SqliteDatabase}


def render_ddl(dialect: str, models: Sequence[type[BaseModel]] = ALL_MODELS) -> str:
    """``CREATE TABLE`` and ``CREATE INDEX`` statements, one per line, each ending in ';'."""
    database = DIALECTS[dialect](None)  # never connected: only its SQL dialect is used
    previous = database_proxy.obj
    database_proxy.initialize(database)
    try:
        statements: list[str] = []
        for model in models:
            schema = model._schema  # type: ignore[attr-defined]
            statements.append(_sql(database, schema._create_table(safe=False)))
            statements.extend(_sql(database, index) for index in schema._create_indexes(safe=False))
        return "".join(f"{statement};\n" for statement in statements)
    finally:
        if previous is not None:
            database_proxy.initialize(previous)


def _sql(database: Database, node: object) -> str:
    sql, params = database.get_sql_context().sql(node).query()
    if params:
        raise ValueError(f"DDL with parameters cannot be frozen: {sql} {params}")
    return str(sql)


def split_statements(ddl: str) -> list[str]:
    """Statements of a rendered file (one per line; SQLite executes one at a time)."""
    return [
        line.rstrip(";") for line in ddl.splitlines() if line.strip() and not line.startswith("--")
    ]


if __name__ == "__main__":
    sys.stdout.write(render_ddl(sys.argv[1] if len(sys.argv) > 1 else "postgres"))
