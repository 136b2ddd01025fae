"""The first schema: accounts, devices, sessions, forms, records, control, dead letters.

The DDL is frozen in ``v0001_initial.<dialect>.sql`` (rendered from the models of
that time by ``cloud.migrations.render``), so this migration never changes.
"""

from __future__ import annotations

from pathlib import Path

from peewee import Database

from cloud.db import is_postgres
from cloud.migrations.render import split_statements

__all__ = ["apply"]


def apply(database: Database) -> None:
    dialect = "postgres" if is_postgres(database) else "sqlite"
    ddl = (Path(__file__).parent / f"v0001_initial.{dialect}.sql").read_text()
    for statement in split_statements(ddl):
        database.execute_sql(statement)
