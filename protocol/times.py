"""Timestamps on the wire: timezone-aware UTC, millisecond precision.

A naive datetime is ambiguous on a box whose clock or zone may be wrong, so it
is refused rather than guessed. Sub-millisecond digits are truncated so that a
value survives a round trip through JSON, SQLite and PostgreSQL unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema

__all__ = ["UtcDateTime", "format_utc", "to_utc_ms", "utc_now"]


def to_utc_ms(value: datetime) -> datetime:
    """Convert an aware datetime to UTC and truncate it to whole milliseconds."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "must be timezone-aware (e.g. '2026-11-22T10:32:05.123Z'), got a naive time"
        )
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def utc_now() -> datetime:
    """The current time in UTC, truncated to milliseconds."""
    return to_utc_ms(datetime.now(UTC))


def format_utc(value: datetime) -> str:
    """ISO 8601 with milliseconds and a 'Z' suffix: '2026-11-22T10:32:05.123Z'."""
    value = to_utc_ms(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


UtcDateTime = Annotated[
    datetime,
    AfterValidator(to_utc_ms),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "UTC, milliseconds"}),
]
"""A timezone-aware UTC datetime with millisecond precision."""
