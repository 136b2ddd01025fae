"""Row parts in the form each database's bulk path takes.

PostgreSQL: COPY's text format (tab-separated cells, ``\\N`` for NULL,
backslash escapes). SQLite: a tuple of driver values. Either way values are
converted per column from the peewee field, so what is stored is exactly what
the models read back. The record part of a row depends only on the record, so
the receiving thread encodes it ahead of the transaction (``cloud.ingest.rows``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

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
from pydantic_core import to_json

from cloud.db import is_postgres
from cloud.ingest.rows import RecordSpec
from cloud.models.base import UtcDateTimeField

__all__ = ["RowEncoder", "driver_errors", "dumps_json"]

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"

driver_errors = peewee.ExceptionWrapper(peewee.EXCEPTIONS)  # type: ignore[attr-defined]
"""Turns a raw cursor's driver errors into peewee's (IntegrityError, DataError, …)."""


def dumps_json(value: Any) -> str:
    # pydantic-core's serializer: the same compact JSON as json.dumps, three times faster.
    # A NaN stays NaN, which both databases' JSON then refuse: the record is rejected.
    return to_json(value, inf_nan_mode="constants").decode()


class RowEncoder:
    def __init__(self, *, postgres: bool) -> None:
        self.postgres = postgres

    @classmethod
    def for_database(cls, database: Database) -> RowEncoder:
        return cls(postgres=is_postgres(database))

    def encode(self, fields: Sequence[Field], values: Sequence[Any]) -> Any:
        return self._encode(_converters(tuple(fields), self.postgres), values)

    def encode_records(self, spec: RecordSpec, records: Sequence[Any]) -> list[Any]:
        converters = _converters(tuple(spec.record_fields), self.postgres)  # once, not per row
        with driver_errors:
            return [self._encode(converters, spec.record_values(r)) for r in records]

    def _encode(self, converters: list[Callable[[Any], Any]], values: Sequence[Any]) -> Any:
        pairs = zip(converters, values, strict=True)
        if self.postgres:
            return "\t".join([convert(value) for convert, value in pairs])
        return tuple(convert(value) for convert, value in pairs)


@functools.cache
def _converters(fields: tuple[Field, ...], postgres: bool) -> list[Callable[[Any], Any]]:
    make = _copy_converter if postgres else _sqlite_converter
    return [make(field) for field in fields]


def _copy_converter(field: Field) -> Callable[[Any], str]:
    target = field.rel_field if isinstance(field, ForeignKeyField) else field
    if isinstance(target, UUIDField):  # 32 hex digits: PostgreSQL reads them, and faster to make
        return lambda value: _NULL if value is None else value.hex
    if isinstance(field, UtcDateTimeField):
        return _copy_time
    if isinstance(field, JSONField):
        return lambda value: _NULL if value is None else _copy_str(dumps_json(value))
    if isinstance(field, BooleanField):
        return lambda value: _NULL if value is None else ("t" if value else "f")
    if isinstance(field, FloatField):
        return _copy_float
    if isinstance(field, IntegerField):
        return lambda value: _NULL if value is None else str(int(value))
    return _copy_str


def _copy_str(value: Any) -> str:
    if value is None:
        return _NULL
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


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


def _sqlite_converter(field: Field) -> Callable[[Any], Any]:
    if isinstance(field, JSONField):
        return lambda value: None if value is None else dumps_json(value)
    target: Field = field.rel_field if isinstance(field, ForeignKeyField) else field
    return target.db_value
