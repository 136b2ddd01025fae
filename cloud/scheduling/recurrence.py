"""Recurrence rules: what a series' API body says, its RFC 5545 RRULE text, its occurrences.

A series is stored as the first occurrence's **local wall time**, its **IANA
zone** and the RRULE text (``FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=10``).
Occurrences are expanded by python-dateutil with a zone-aware start, which keeps
the wall time (18:00 stays 18:00 across a DST change) and reads gaps and repeated
hours as :mod:`cloud.scheduling.zones` says. The same text goes into the
calendar feed's ``RRULE`` beside ``DTSTART;TZID=``, so phones expand it to the
same instants.

Month ends: "monthly on day N" for N of 29, 30 or 31 means *the Nth, or the
last day of a shorter month* (``BYMONTHDAY=28,…,N;BYSETPOS=-1``), never a
skipped month; ``month_day = -1`` is always the last day. "Monthly on the last
Friday" is ``week_of_month = -1`` with ``weekday = FR`` (``BYDAY=-1FR``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum

from dateutil.rrule import rrule as DateutilRule
from dateutil.rrule import rrulestr

from cloud.errors import CloudError
from cloud.scheduling.zones import to_utc, zone

__all__ = [
    "MAX_OCCURRENCES",
    "MAX_SPAN_DAYS",
    "Frequency",
    "Rule",
    "RuleError",
    "Series",
    "Weekday",
]

MAX_OCCURRENCES = 1000
"""A series with a count has at most this many occurrences."""
MAX_SPAN_DAYS = 5 * 366
"""A series with an end date ends within five years of its start."""


class RuleError(CloudError, ValueError):
    """A rule that cannot be used; ``field`` names the part of the rule at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"  # weekly with an interval of 2 (times `interval`)
    MONTHLY = "monthly"


class Weekday(StrEnum):
    MO = "MO"
    TU = "TU"
    WE = "WE"
    TH = "TH"
    FR = "FR"
    SA = "SA"
    SU = "SU"


_WEEKDAYS = list(Weekday)  # index = Python's date.weekday()


@dataclass(frozen=True)
class Rule:
    """What a series' body says about repeating (validated by the API schema too)."""

    freq: Frequency
    interval: int = 1
    count: int | None = None
    until: date | None = None  # a local date, inclusive
    weekdays: tuple[Weekday, ...] = ()  # weekly: which days (default: the start's)
    month_day: int | None = None  # monthly: 1..31, or -1 for the last day
    week_of_month: int | None = None  # monthly: 1..4 or -1 (last), with ``weekday``
    weekday: Weekday | None = None

    def check(self) -> None:
        if not 1 <= self.interval <= 99:
            raise RuleError("interval", "interval must be between 1 and 99")
        if self.count is not None and self.until is not None:
            raise RuleError("until", "give count or until, not both")
        if self.count is not None and not 1 <= self.count <= MAX_OCCURRENCES:
            raise RuleError("count", f"count must be between 1 and {MAX_OCCURRENCES}")
        weekly = self.freq in (Frequency.WEEKLY, Frequency.BIWEEKLY)
        if self.weekdays and not weekly:
            raise RuleError("weekdays", "weekdays are for weekly and biweekly rules")
        if len(set(self.weekdays)) != len(self.weekdays):
            raise RuleError("weekdays", "a weekday is named twice")
        monthly_parts = (self.month_day, self.week_of_month, self.weekday)
        if self.freq is not Frequency.MONTHLY and any(p is not None for p in monthly_parts):
            raise RuleError(
                "month_day", "month_day, week_of_month and weekday are for monthly rules"
            )
        if self.month_day is not None:
            if self.week_of_month is not None or self.weekday is not None:
                raise RuleError("month_day", "give month_day, or week_of_month with weekday")
            if not (1 <= self.month_day <= 31 or self.month_day == -1):
                raise RuleError("month_day", "month_day must be 1..31, or -1 for the last day")
        if (self.week_of_month is None) != (self.weekday is None):
            field = "weekday" if self.weekday is None else "week_of_month"
            raise RuleError(field, "week_of_month and weekday go together")
        if self.week_of_month is not None and self.week_of_month not in (1, 2, 3, 4, -1):
            raise RuleError("week_of_month", "week_of_month must be 1, 2, 3, 4 or -1 (the last)")

    def rrule_text(self, start_wall: datetime, zone_name: str) -> str:
        """The RFC 5545 RRULE value for a series starting at ``start_wall`` (naive local)."""
        self.check()
        parts = [f"FREQ={'WEEKLY' if self.freq is Frequency.BIWEEKLY else self.freq.upper()}"]
        interval = self.interval * (2 if self.freq is Frequency.BIWEEKLY else 1)
        if interval != 1:
            parts.append(f"INTERVAL={interval}")
        if self.freq in (Frequency.WEEKLY, Frequency.BIWEEKLY):
            days = self.weekdays or (_WEEKDAYS[start_wall.weekday()],)
            ordered = sorted(days, key=_WEEKDAYS.index)
            parts.append("BYDAY=" + ",".join(day.value for day in ordered))
        elif self.freq is Frequency.MONTHLY:
            if self.week_of_month is not None and self.weekday is not None:
                parts.append(f"BYDAY={self.week_of_month}{self.weekday.value}")
            else:
                day = self.month_day if self.month_day is not None else start_wall.day
                if day >= 29:  # the Nth, or the last day of a shorter month
                    parts.append("BYMONTHDAY=" + ",".join(str(d) for d in range(28, day + 1)))
                    parts.append("BYSETPOS=-1")
                else:
                    parts.append(f"BYMONTHDAY={day}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            if self.until < start_wall.date():
                raise RuleError("until", "until is before the start")
            if (self.until - start_wall.date()).days > MAX_SPAN_DAYS:
                raise RuleError("until", "a series ends within five years of its start")
            last = to_utc(datetime.combine(self.until, time(23, 59, 59)), zone_name)
            parts.append(f"UNTIL={last.strftime('%Y%m%dT%H%M%SZ')}")
        return ";".join(parts)


@dataclass(frozen=True)
class Series:
    """A stored rule: first occurrence's local wall time, zone, RRULE text."""

    start_wall: datetime  # naive local
    zone_name: str
    rrule: str

    @classmethod
    def create(cls, rule: Rule, start_wall: datetime, zone_name: str) -> Series:
        """The series whose first occurrence is the rule's first at or after ``start_wall``
        (so that DTSTART is itself an occurrence, as RFC 5545 counts it)."""
        zone(zone_name)
        text = rule.rrule_text(start_wall, zone_name)
        draft = cls(start_wall, zone_name, text)
        first = next(iter(draft._rule()), None)
        if first is None:
            raise RuleError("until", "the rule has no occurrence after the start")
        wall = first.replace(tzinfo=None)
        if rule.until is not None and rule.until < wall.date():
            raise RuleError("until", "the rule has no occurrence on or before until")
        return cls(wall, zone_name, rule.rrule_text(wall, zone_name))

    @classmethod
    def reanchored(cls, rrule_text: str, start_wall: datetime, zone_name: str) -> Series:
        """An existing rule text started again at ``start_wall`` (moved to its first
        occurrence on or after it)."""
        first = next(iter(cls(start_wall, zone_name, rrule_text)._rule()), None)
        if first is None:
            raise RuleError("rule", "the rule has no occurrence left after this point")
        return cls(first.replace(tzinfo=None), zone_name, rrule_text)

    def _rule(self) -> DateutilRule:
        start = self.start_wall.replace(tzinfo=zone(self.zone_name))
        parsed = rrulestr(self.rrule, dtstart=start)
        assert isinstance(parsed, DateutilRule)
        return parsed

    @property
    def is_finite(self) -> bool:
        return "COUNT=" in self.rrule or "UNTIL=" in self.rrule

    def occurrences(
        self, *, after: datetime | None = None, before: datetime | None = None
    ) -> Iterator[datetime]:
        """UTC instants of the occurrences in ``[after, before)`` (either open), in order.

        Occurrences are at least a day apart, so their instants are in order too."""
        for local in self._rule():
            instant = local.astimezone(UTC)
            if before is not None and instant >= before:
                return
            if after is not None and instant < after:
                continue
            yield instant

    def ending_before(self, instant: datetime) -> Series | None:
        """The same series ending with its last occurrence before ``instant`` (COUNT or
        UNTIL replaced by that occurrence's UNTIL); None if none comes before it."""
        last: datetime | None = None
        for local in self._rule():
            if local.astimezone(UTC) >= instant:
                break
            last = local
        if last is None:
            return None
        kept = [part for part in self.rrule.split(";") if not part.startswith(("COUNT=", "UNTIL="))]
        kept.append(f"UNTIL={last.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}")
        return Series(self.start_wall, self.zone_name, ";".join(kept))

    def count_before(self, instant: datetime) -> int:
        return sum(1 for _ in self.occurrences(before=instant))

    def remaining_count(self) -> int | None:
        for part in self.rrule.split(";"):
            if part.startswith("COUNT="):
                return int(part.removeprefix("COUNT="))
        return None
