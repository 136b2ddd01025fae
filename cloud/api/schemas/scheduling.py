"""Time values scheduling requests carry: bounded instants, local wall times, zones.

Every value is bounded to the years 2000-2100 so that no arithmetic on it (a
zone's offset, a horizon, a week's count) can leave Python's date range: a date
outside gets a 422 that names the field rather than an overflow.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, NaiveDatetime, StringConstraints

from cloud.scheduling.zones import KNOWN_ZONES

__all__ = [
    "EARLIEST",
    "LATEST",
    "Currency",
    "Instant",
    "LocalDate",
    "LocalDateTime",
    "LocalTime",
    "ZoneName",
]

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
_RANGE = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def _in_range_date(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be {_RANGE}")
    return value


def _in_range_naive(value: datetime) -> datetime:
    _in_range_date(value.date())
    return value.replace(microsecond=0)


def _in_range_aware(value: datetime) -> datetime:
    _in_range_date(value.replace(tzinfo=None).date())
    utc = value.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


def _known_zone(value: str) -> str:
    if value not in KNOWN_ZONES:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Paris'")
    return value


def _whole_minutes(value: time) -> time:
    if value.second or value.microsecond or value.tzinfo is not None:
        raise ValueError("must be a local time of day in whole minutes, e.g. '09:30'")
    return value


Instant = Annotated[
    AwareDatetime,
    AfterValidator(_in_range_aware),
    Field(description=f"An instant with its offset (ISO 8601), {_RANGE}; returned in UTC."),
]
LocalDateTime = Annotated[
    NaiveDatetime,
    AfterValidator(_in_range_naive),
    Field(
        description="A local wall time without offset, e.g. '2027-03-01T18:00', read in `timezone`."
    ),
]
LocalDate = Annotated[date, AfterValidator(_in_range_date), Field(description=f"A date, {_RANGE}.")]
LocalTime = Annotated[
    time, AfterValidator(_whole_minutes), Field(description="Local time of day, e.g. '09:30'.")
]
ZoneName = Annotated[
    str,
    Field(max_length=64, description="An IANA time zone, e.g. 'Europe/Berlin'."),
    AfterValidator(_known_zone),
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
