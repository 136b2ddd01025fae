"""``INSERT … ON CONFLICT DO NOTHING`` of many rows, as fast as each database allows.

The statement is the same on both databases; how the rows travel differs:

- PostgreSQL: ``COPY`` (text format) into a temporary staging table, then one
  ``INSERT INTO t SELECT … FROM staging ON CONFLICT DO NOTHING``. A 500-row
  ``VALUES`` list with 6,000 bound parameters spends more time being quoted by
  the driver and parsed by the server than being inserted (measured in
  ``bench/ingest.py``); ``COPY`` avoids both. The staging table empties itself
  at commit (``ON COMMIT DELETE ROWS``).
- SQLite: ``executemany`` of a one-row insert, a loop in C.

Values are converted per column from the peewee field, so what is stored is
exactly what the models read back.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import peewee
from peewee import (
    BooleanField,
    Database,
    Field,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    UUIDField,
)

from cloud.db import is_postgres
from cloud.ingest.rows import RecordSpec
from cloud.models.base import UtcDateTimeField

__all__ = ["InsertOutcome", "insert_ignore"]

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_NOTHING = object()
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
# The raw cursor's errors are the driver's; peewee's wrapper turns them into
# peewee.IntegrityError, DataError, OperationalError… like every other query.
_driver_errors = peewee.ExceptionWrapper(peewee.EXCEPTIONS)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class InsertOutcome:
    inserted: int  # rows that were new
    foreign: set[UUID]  # ids already stored under another device (or none): refuse them


def insert_ignore(
    database: Database, spec: RecordSpec, rows: Sequence[tuple[Any, ...]]
) -> InsertOutcome:
    """Insert ``rows`` (in ``spec.fields`` order), skipping ids already stored.

    Must run inside a transaction. When some ids were already there, it also
    finds those stored under a different device than the row's: a re-send is
    harmless, but an id that belongs to someone else must not be receipted.
    """
    if not rows:
        return InsertOutcome(0, set())
    with _driver_errors:
        if is_postgres(database):
            return _copy_insert(database, spec, rows)
        return _executemany_insert(database, spec, rows)


# -- PostgreSQL ---------------------------------------------------------------


def _copy_insert(
    database: Database, spec: RecordSpec, rows: Sequence[tuple[Any, ...]]
) -> InsertOutcome:
    table = spec.table
    staging = f"_ingest_{table}"
    columns = ", ".join(f'"{field.column_name}"' for field in spec.fields)
    text = _copy_text(spec.fields, rows)
    cursor = database.cursor()
    try:
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" '
            f'(LIKE "{table}") ON COMMIT DELETE ROWS'
        )
        cursor.copy_expert(f'COPY "{staging}" ({columns}) FROM STDIN', io.StringIO(text))
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
        cursor.execute(f'TRUNCATE "{staging}"')  # several batches may share a transaction
        return InsertOutcome(inserted, foreign)
    finally:
        cursor.close()


def _copy_text(fields: Sequence[Field], rows: Sequence[tuple[Any, ...]]) -> str:
    """Rows in COPY's text format. The org, device, message and receive time repeat
    on every row of a message: a value that *is* the previous row's is not
    converted again (the cheapest way to halve this loop's work)."""
    converters = [_copy_converter(field) for field in fields]
    width = len(converters)
    last_values: list[Any] = [_NOTHING] * width
    last_texts = [""] * width
    lines = []
    for row in rows:
        cells = []
        for index in range(width):
            value = row[index]
            if value is not last_values[index]:
                last_values[index] = value
                last_texts[index] = converters[index](value)
            cells.append(last_texts[index])
        lines.append("\t".join(cells))
    lines.append("")
    return "\n".join(lines)


def _copy_converter(field: Field) -> Callable[[Any], str]:
    target = field.rel_field if isinstance(field, ForeignKeyField) else field
    if isinstance(target, UUIDField):
        return lambda value: _NULL if value is None else str(value)
    if isinstance(field, UtcDateTimeField):
        return _copy_time
    if isinstance(field, JSONField):
        return lambda value: _NULL if value is None else _dumps(value).translate(_COPY_ESCAPES)
    if isinstance(field, BooleanField):
        return lambda value: _NULL if value is None else ("t" if value else "f")
    if isinstance(field, FloatField):
        return _copy_float
    if isinstance(field, IntegerField):
        return lambda value: _NULL if value is None else str(int(value))
    return lambda value: _NULL if value is None else str(value).translate(_COPY_ESCAPES)


def _copy_time(value: Any) -> str:
    if value is None:
        return _NULL
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}; times must be aware (UTC)")
    return str(value.isoformat())  # PostgreSQL reads the offset; what is stored is the instant


def _copy_float(value: Any) -> str:
    if value is None:
        return _NULL
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


# -- SQLite -------------------------------------------------------------------


def _executemany_insert(
    database: Database, spec: RecordSpec, rows: Sequence[tuple[Any, ...]]
) -> InsertOutcome:
    columns = ", ".join(f'"{field.column_name}"' for field in spec.fields)
    marks = ", ".join("?" for _ in spec.fields)
    converters = [_sqlite_converter(field) for field in spec.fields]
    values = [
        tuple(convert(value) for convert, value in zip(converters, row, strict=True))
        for row in rows
    ]
    cursor = database.cursor()
    try:
        before = database.connection().total_changes
        cursor.executemany(
            f'INSERT INTO "{spec.table}" ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING',
            values,
        )
        inserted = int(database.connection().total_changes - before)
        foreign: set[UUID] = set()
        if inserted < len(rows):
            foreign = _sqlite_foreign(cursor, spec, values)
        return InsertOutcome(inserted, foreign)
    finally:
        cursor.close()


def _sqlite_foreign(cursor: Any, spec: RecordSpec, values: list[tuple[Any, ...]]) -> set[UUID]:
    device_index = [field.name for field in spec.fields].index("device")
    expected = {row[0]: row[device_index] for row in values}  # stored id -> sending device
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


def _sqlite_converter(field: Field) -> Callable[[Any], Any]:
    if isinstance(field, JSONField):
        return lambda value: None if value is None else _dumps(value)
    target: Field = field.rel_field if isinstance(field, ForeignKeyField) else field
    return target.db_value
