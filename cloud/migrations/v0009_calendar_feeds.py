"""Calendar feeds: a secret .ics URL per host or team (the token stored hashed).

``calendar_feed`` (frozen DDL beside this file).
"""

from __future__ import annotations

from pathlib import Path

from peewee import Database

from cloud.db import is_postgres
from cloud.migrations.render import split_statements

__all__ = ["apply"]


def apply(database: Database) -> None:
    dialect = "postgres" if is_postgres(database) else "sqlite"
    ddl = (Path(__file__).parent / f"v0009_calendar_feeds.{dialect}.sql").read_text()
    for statement in split_statements(ddl):
        database.execute_sql(statement)
