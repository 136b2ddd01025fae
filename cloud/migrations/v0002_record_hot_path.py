"""Logs and detection events: no database-enforced org/device references, no org index.

Measured with ``bench/ingest.py`` on PostgreSQL: the two per-row foreign-key
checks (RI triggers) were 40 % of an ingest batch's insert time, and the
``(org, time, id)`` index another 10 %. The ingest sets both columns from the
device registry in the same transaction; listings go per session or device.
SQLite cannot drop a constraint, so its tables are rebuilt (same columns).
"""

from __future__ import annotations

from pathlib import Path

from peewee import Database

from cloud.db import is_postgres
from cloud.migrations.render import split_statements

__all__ = ["apply"]


def apply(database: Database) -> None:
    dialect = "postgres" if is_postgres(database) else "sqlite"
    ddl = (Path(__file__).parent / f"v0002_record_hot_path.{dialect}.sql").read_text()
    for statement in split_statements(ddl):
        database.execute_sql(statement)
