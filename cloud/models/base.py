"""What every cloud model shares: the database proxy, UTC times, enums, ids.

Times are stored as UTC with a fixed-width text form on SQLite (so that text
order is time order, which the timeline's keyset pagination relies on) and as
``timestamptz`` on PostgreSQL; in Python they are always aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from peewee import CharField, Check, Field, ForeignKeyField, Model, UUIDField

from cloud.db import database_proxy
from protocol.ids import new_id
from protocol.times import to_utc_ms

__all__ = [
    "SEGMENT_LENGTH",
    "BaseModel",
    "StrEnumField",
    "UnenforcedForeignKey",
    "UtcDateTimeField",
    "new_uuid_pk",
    "utc_now",
]

SEGMENT_LENGTH = 64
"""Org slugs, device ids and camera ids are topic levels: at most 64 characters."""

E = TypeVar("E", bound=StrEnum)


def utc_now() -> datetime:
    """Now, aware UTC, to the millisecond (what the wire carries)."""
    return to_utc_ms(datetime.now(UTC))


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False  # SessionDevice -> session_device


class UtcDateTimeField(Field):
    """An aware UTC datetime; naive values are refused rather than guessed."""

    field_type = "TIMESTAMPTZ"  # PostgreSQL: timestamptz; SQLite: text (NUMERIC affinity)

    def db_value(self, value: Any) -> Any:
        if value is None or not isinstance(value, datetime):
            return value  # None, or an SQL expression
        if value.tzinfo is None:
            raise ValueError(f"{self.name}: naive datetime {value!r}; pass an aware one (UTC)")
        # Fixed width, always with microseconds and offset: text order == time order.
        # (isoformat pads the year to four digits; strftime's %Y writes year 1 as "1".)
        return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")

    def python_value(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:  # written by something else; stored times are UTC
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


class StrEnumField(CharField, Generic[E]):
    """A string enum, with a CHECK constraint so that both databases refuse other values."""

    def __init__(self, enum_class: type[E], **kwargs: Any) -> None:
        self.enum_class = enum_class
        kwargs.setdefault("max_length", 32)  # room for values added by later migrations
        super().__init__(**kwargs)

    def bind(self, model: type[Model], name: str, set_attribute: bool = True) -> None:
        super().bind(model, name, set_attribute)
        allowed = ", ".join(f"'{member.value}'" for member in self.enum_class)
        self.constraints = [Check(f'"{self.column_name}" IN ({allowed})')]

    def db_value(self, value: Any) -> Any:
        if value is None or not isinstance(value, str):
            return value
        return self.enum_class(value).value

    def python_value(self, value: Any) -> E | None:
        return None if value is None else self.enum_class(value)


class UnenforcedForeignKey(ForeignKeyField):
    """A relation peewee joins and loads like any other, without a database constraint.

    Only for hot insert paths whose writer guarantees the reference: there is no
    ``ON DELETE`` either, so the referenced rows must not be hard-deleted
    (devices are retired, not deleted).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred = True  # peewee's switch: no FOREIGN KEY clause in CREATE TABLE


def new_uuid_pk() -> UUIDField:
    """A UUIDv7 primary key minted here (cloud-born rows; device rows bring their own)."""
    return UUIDField(primary_key=True, default=new_id)
