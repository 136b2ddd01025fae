"""Availability and bookings: meeting slots, date overrides, hosts' limits, bookings.

New tables ``meeting_slot``, ``availability_override``, ``host_schedule`` and
``booking`` (frozen DDL beside this file), and ``host_busy.booking_id``: a
confirmed booking holds its host's time in the same table as their sessions,
under the same no-overlap rule.
"""

from __future__ import annotations

from pathlib import Path

from peewee import Database

from cloud.db import is_postgres
from cloud.migrations.render import split_statements

__all__ = ["apply"]


def apply(database: Database) -> None:
    dialect = "postgres" if is_postgres(database) else "sqlite"
    ddl = (Path(__file__).parent / f"v0006_bookings.{dialect}.sql").read_text()
    for statement in split_statements(ddl):
        database.execute_sql(statement)
    kind = "UUID" if dialect == "postgres" else "TEXT"
    database.execute_sql(
        f'ALTER TABLE "host_busy" ADD COLUMN "booking_id" {kind} '
        'REFERENCES "booking" ("id") ON DELETE CASCADE'
    )
    database.execute_sql('CREATE UNIQUE INDEX "host_busy_booking_id" ON "host_busy" ("booking_id")')
