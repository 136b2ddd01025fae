"""Timestamps on the wire: timezone-aware UTC, millisecond precision.

A naive datetime is ambiguous on a box whose clock or zone may be wrong, so it
is refused rather than guessed. Sub-millisecond digits are truncated so that a
value survives a round trip through JSON, SQLite and PostgreSQL unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

__all__ = ["UtcDateTime", "format_utc", "parse_utc", "to_utc_ms", "utc_now"]


def to_utc_ms(value: datetime) -> datetime:
    """Convert an aware datetime to UTC and truncate it to whole milliseconds.

    Raises ``ValueError`` (never ``OverflowError``) for a time whose UTC instant
    is outside what a datetime can hold, e.g. ``0001-01-01T00:00:00+14:00``.
    """
    if value.tzinfo is not UTC:
        if value.utcoffset() is None:
            raise ValueError(
                "must be timezone-aware (e.g. '2026-11-22T10:32:05.123Z'), got a naive time"
            )
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueError(
                f"{value.isoformat()} is outside the range of times in UTC "
                "(0001-01-01 to 9999-12-31)"
            ) from None
    extra = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - extra) if extra else value


def parse_utc(value: Any) -> datetime:
    """Validate an ISO 8601 string or a datetime into UTC with millisecond precision.

    On the hot path (the ingest decodes every record's times) this runs instead of
    pydantic's own parser plus a conversion: ``datetime.fromisoformat`` is C, and
    a value already in UTC to the millisecond passes through untouched.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"must be an ISO 8601 date and time with a timezone, e.g. "
                f"'2026-11-22T10:32:05.123Z'; got {value[:40]!r}"
            ) from None
    elif not isinstance(value, datetime):
        raise ValueError(f"must be an ISO 8601 date and time string, got {type(value).__name__}")
    return to_utc_ms(value)


def utc_now() -> datetime:
    """The current time in UTC, truncated to milliseconds."""
    return to_utc_ms(datetime.now(UTC))


def format_utc(value: datetime) -> str:
    """ISO 8601 with milliseconds and a 'Z' suffix: '2026-11-22T10:32:05.123Z'."""
    return to_utc_ms(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UtcDateTime = Annotated[
    datetime,
    PlainValidator(parse_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "UTC, milliseconds"}),
]
"""A timezone-aware UTC datetime with millisecond precision."""
