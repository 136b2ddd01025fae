"""Local wall time in an IANA zone, and the one policy for times a zone skips or repeats.

The policy is RFC 5545's (section 3.3.5), so the API and every calendar app
reading our feeds agree to the second:

- a wall time that does not exist (the spring-forward gap, 02:30 in New York
  on the second Sunday of March) is read with the UTC offset in force before
  the gap, so it lands as far after the gap as it was into it (02:30 -> 03:30);
- a wall time that exists twice (the fall-back hour) is the first of the two
  (the one still on summer time).

Python's ``zoneinfo`` does exactly this for ``fold=0``, which is what a
datetime built with ``tzinfo=ZoneInfo(...)`` has.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cloud.errors import CloudError

__all__ = [
    "KNOWN_ZONES",
    "UnknownZone",
    "combine",
    "day_bounds",
    "is_ambiguous",
    "is_nonexistent",
    "local_wall",
    "to_utc",
    "zone",
]

KNOWN_ZONES = frozenset(available_timezones())


class UnknownZone(CloudError, ValueError):
    """A name that is not an IANA time zone."""


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    if name not in KNOWN_ZONES:
        raise UnknownZone(f"unknown time zone {name!r}; use an IANA name like 'Europe/Paris'")
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:  # pragma: no cover - listed but not loadable
        raise UnknownZone(f"time zone {name!r} cannot be loaded") from None


def to_utc(wall: datetime, zone_name: str) -> datetime:
    """The instant of naive local ``wall`` in ``zone_name`` (gap and fold policy above)."""
    if wall.tzinfo is not None:
        raise ValueError("to_utc takes a naive local wall time")
    return wall.replace(tzinfo=zone(zone_name), fold=0).astimezone(UTC)


def local_wall(instant: datetime, zone_name: str) -> datetime:
    """``instant`` (aware) as naive wall time in ``zone_name``."""
    return instant.astimezone(zone(zone_name)).replace(tzinfo=None, fold=0)


def combine(day: date, at: time, zone_name: str) -> datetime:
    """The UTC instant of ``at`` on local ``day`` in ``zone_name``."""
    return to_utc(datetime.combine(day, at), zone_name)


def is_nonexistent(wall: datetime, zone_name: str) -> bool:
    """``wall`` falls in a gap: it does not survive a round trip through UTC."""
    return local_wall(to_utc(wall, zone_name), zone_name) != wall


def is_ambiguous(wall: datetime, zone_name: str) -> bool:
    """``wall`` happens twice (the two folds have different offsets)."""
    tz = zone(zone_name)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    return first.utcoffset() != second.utcoffset() and not is_nonexistent(wall, zone_name)


def day_bounds(day: date, zone_name: str) -> tuple[datetime, datetime]:
    """UTC instants of local midnight starting ``day`` and the next one (23, 24 or 25 h)."""
    return combine(day, time(0), zone_name), combine(day + timedelta(days=1), time(0), zone_name)
