"""``INSERT … ON CONFLICT DO NOTHING`` of many rows, as fast as each database allows.

The effect is the same on both databases — rows whose id is already stored are
skipped, and ids stored under *another* device are reported so that they are
refused rather than receipted — but the rows travel differently:

- PostgreSQL: ``COPY`` (text format) into a temporary staging table, then one
  ``INSERT INTO t SELECT … FROM staging ON CONFLICT DO NOTHING``. A 500-row
  ``VALUES`` list with 6,000 bound parameters spends more time being quoted by
  the driver and parsed by the server than being inserted (peewee's
  ``insert_many`` runs at a quarter of this rate in ``bench/ingest.py``).
  Looking the ids up first and copying only new rows straight into the table
  measured no faster here, and needs a fallback for two workers racing on one
  id; ``ON CONFLICT`` handles that race by itself.
- SQLite: ``executemany`` of a one-row ``INSERT … ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from peewee import Database

from cloud.db import is_postgres
from cloud.ingest.encoding import driver_errors
from cloud.ingest.rows import RecordSpec

__all__ = ["InsertOutcome", "PreparedRow", "insert_ignore"]


@dataclass(frozen=True, slots=True)
class PreparedRow:
    id: UUID
    device_id: str | None  # who sent it: an id stored under another device is refused
    context: Any  # encoded context part (cloud.ingest.encoding.RowEncoder)
    record: Any  # encoded record part


@dataclass(frozen=True, slots=True)
class InsertOutcome:
    inserted: int  # rows that were new
    foreign: set[UUID]  # ids already stored under another device (or none): refuse them


def insert_ignore(
    database: Database, spec: RecordSpec, rows: Sequence[PreparedRow]
) -> InsertOutcome:
    """Insert ``rows`` (parts in ``spec.fields`` order), skipping ids already stored.
    Must run inside a transaction."""
    if not rows:
        return InsertOutcome(0, set())
    with driver_errors:
        if is_postgres(database):
            return _postgres_insert(database, spec, rows)
        return _sqlite_insert(database, spec, rows)


def _columns(spec: RecordSpec) -> str:
    return ", ".join(f'"{field.column_name}"' for field in spec.fields)


def _copy_text(rows: Sequence[PreparedRow]) -> io.StringIO:
    return io.StringIO("".join([f"{row.context}\t{row.record}\n" for row in rows]))


# -- PostgreSQL ---------------------------------------------------------------


def _postgres_insert(
    database: Database, spec: RecordSpec, rows: Sequence[PreparedRow]
) -> InsertOutcome:
    table, staging, columns = spec.table, f"_ingest_{spec.table}", _columns(spec)
    cursor = database.cursor()
    try:
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" '
            f'(LIKE "{table}") ON COMMIT DELETE ROWS'
        )
        cursor.copy_expert(f'COPY "{staging}" ({columns}) FROM STDIN', _copy_text(rows))
        cursor.execute(
            f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{staging}" '
            "ON CONFLICT DO NOTHING"
        )
        inserted = int(cursor.rowcount)
        foreign: set[UUID] = set()
        if inserted < len(rows):
            cursor.execute(
                f'SELECT s."id" FROM "{staging}" s JOIN "{table}" t ON t."id" = s."id" '
                'WHERE t."device_id" IS DISTINCT FROM s."device_id"'
            )
            foreign = {UUID(str(row[0])) for row in cursor.fetchall()}
        cursor.execute(f'TRUNCATE "{staging}"')  # the next kind or batch in this transaction
        return InsertOutcome(inserted, foreign)
    finally:
        cursor.close()


# -- SQLite -------------------------------------------------------------------


def _sqlite_insert(
    database: Database, spec: RecordSpec, rows: Sequence[PreparedRow]
) -> InsertOutcome:
    marks = ", ".join("?" for _ in spec.fields)
    cursor = database.cursor()
    try:
        before = database.connection().total_changes
        cursor.executemany(
            f'INSERT INTO "{spec.table}" ({_columns(spec)}) VALUES ({marks}) ON CONFLICT DO NOTHING',
            [row.context + row.record for row in rows],
        )
        inserted = int(database.connection().total_changes - before)
        foreign: set[UUID] = set()
        if inserted < len(rows):
            foreign = _sqlite_foreign(cursor, spec, rows)
        return InsertOutcome(inserted, foreign)
    finally:
        cursor.close()


def _sqlite_foreign(cursor: Any, spec: RecordSpec, rows: Sequence[PreparedRow]) -> set[UUID]:
    expected = {row.id.hex: row.device_id for row in rows}  # stored form of the id -> sender
    ids = list(expected)
    foreign: set[UUID] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        cursor.execute(
            f'SELECT "id", "device_id" FROM "{spec.table}" '
            f'WHERE "id" IN ({", ".join("?" for _ in chunk)})',
            chunk,
        )
        foreign.update(
            UUID(hex=stored) for stored, device in cursor.fetchall() if device != expected[stored]
        )
    return foreign
