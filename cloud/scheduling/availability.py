"""Bookable times: a host's weekly slots and date overrides, less what is taken.

Pure computation over values the caller loaded (one query each for slots,
overrides, busy rows and limits), so the same function answers the listing
and checks a booking. Everything is computed in each slot's own zone and
returned as UTC instants:

1. Each active slot gives, on every local date whose weekday is its
   ``day_of_week`` (0 = Monday … 6 = Sunday, ISO 8601 and Python's
   ``date.weekday()``), a window ``[start_time, end_time)`` of local wall time.
   An ``extra`` override adds a window on its date with a slot's parameters.
2. Candidates start at the window's start and follow each other every
   ``duration`` of *real* time, as long as they end inside the window; so a
   window crossing a DST change has as many slots as it has hours (a night
   window on the spring-forward day has one hour fewer), never a duplicated or
   skipped instant.
3. A candidate is dropped when it overlaps a ``blackout`` override, starts
   before ``now + min_notice`` or after ``now + booking_window``, when the
   candidate *with its buffers* (``[start - before, end + after)``) overlaps a
   busy row of the host (bookings are stored with their own buffers), or when
   the host's day or week (in the limits' zone) is already full.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from uuid import UUID

from cloud.models.enums import OverrideKind
from cloud.scheduling.zones import combine, day_bounds, local_wall

__all__ = [
    "Bookable",
    "Busy",
    "BusyIndex",
    "DayCounts",
    "Limits",
    "Override",
    "OverrideKind",
    "SlotRule",
    "Unbookable",
    "bookable_times",
    "check_time",
    "limit_reached",
]


@dataclass(frozen=True)
class SlotRule:
    """A meeting slot's parameters (spec 000's MeetingSlot plus what users need)."""

    id: UUID
    day_of_week: int
    start_time: time
    end_time: time
    duration: timedelta
    timezone: str
    buffer_before: timedelta = timedelta()
    buffer_after: timedelta = timedelta()
    min_notice: timedelta = timedelta()
    booking_window: timedelta = timedelta(days=60)
    price_minor: int | None = None
    currency: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Override:
    day: date
    kind: OverrideKind
    timezone: str
    start_time: time | None = None  # both None: the whole day
    end_time: time | None = None
    slot_id: UUID | None = None  # extra hours: whose parameters

    def span(self) -> tuple[datetime, datetime]:
        if self.start_time is None or self.end_time is None:
            return day_bounds(self.day, self.timezone)
        return (
            combine(self.day, self.start_time, self.timezone),
            combine(self.day, self.end_time, self.timezone),
        )


@dataclass(frozen=True)
class Busy:
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Limits:
    """At most ``per_day`` / ``per_week`` bookings and hosted sessions together,
    counted by their start in ``timezone`` (weeks from Monday)."""

    timezone: str
    per_day: int | None = None
    per_week: int | None = None


@dataclass(frozen=True)
class Bookable:
    slot_id: UUID
    starts_at: datetime
    ends_at: datetime
    price_minor: int | None
    currency: str | None


class Unbookable(StrEnum):
    """Why a requested time cannot be booked (the booking service's codes)."""

    IN_THE_PAST = "in_the_past"
    NOT_A_SLOT_TIME = "not_a_slot_time"
    BLACKED_OUT = "blacked_out"
    TOO_SOON = "too_soon"
    TOO_FAR_AHEAD = "too_far_ahead"
    TIME_TAKEN = "time_taken"
    LIMIT_REACHED = "limit_reached"


def _windows(
    slot: SlotRule, overrides: Sequence[Override], first: date, last: date
) -> Iterable[tuple[datetime, datetime]]:
    """The slot's windows on local dates ``first``..``last`` (its weekly ones and
    its extra hours), as UTC instants."""
    day = first
    while day <= last:
        if slot.active and day.weekday() == slot.day_of_week:
            yield (
                combine(day, slot.start_time, slot.timezone),
                combine(day, slot.end_time, slot.timezone),
            )
        day += timedelta(days=1)
    for override in overrides:
        if override.kind is OverrideKind.EXTRA and override.slot_id == slot.id:
            if first - timedelta(days=1) <= override.day <= last + timedelta(days=1):
                yield override.span()


def _candidates(
    slot: SlotRule, overrides: Sequence[Override], since: datetime, until: datetime
) -> list[datetime]:
    first = local_wall(since, slot.timezone).date() - timedelta(days=1)
    last = local_wall(until, slot.timezone).date() + timedelta(days=1)
    starts: set[datetime] = set()
    for window_start, window_end in _windows(slot, overrides, first, last):
        at = window_start
        while at + slot.duration <= window_end:
            if since <= at < until:
                starts.add(at)
            at += slot.duration
    return sorted(starts)


def _blackouts(overrides: Sequence[Override]) -> list[tuple[datetime, datetime]]:
    return sorted(o.span() for o in overrides if o.kind is OverrideKind.BLACKOUT)


def _overlaps_any(
    spans: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime
) -> bool:
    return any(s < end and start < e for s, e in spans)


class BusyIndex:
    """Busy rows sorted by start, with the running latest end: whether ``[a, b)``
    overlaps any row is whether the rows starting before ``b`` end after ``a``."""

    def __init__(self, busy: Iterable[Busy]) -> None:
        rows = sorted(busy, key=lambda row: row.starts_at)
        self.starts = [row.starts_at for row in rows]
        self.latest_end: list[datetime] = []
        for row in rows:
            latest = self.latest_end[-1] if self.latest_end else row.ends_at
            self.latest_end.append(max(latest, row.ends_at))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        position = bisect.bisect_left(self.starts, end)
        return position > 0 and self.latest_end[position - 1] > start


class DayCounts:
    """Busy rows per local day and ISO week in the limits' zone."""

    def __init__(
        self,
        limits: Limits | None,
        busy: Iterable[Busy],
        *,
        span: tuple[datetime, datetime] | None = None,
    ) -> None:
        """``span``: the instants it will be asked about (local midnights cached once)."""
        self.limits = limits
        self.days: Counter[date] = Counter()
        self.weeks: Counter[tuple[int, int]] = Counter()
        self._weeks: dict[date, tuple[int, int]] = {}
        self._dates: list[date] = []
        self._midnights: list[datetime] = []
        if limits is None:
            return
        if span is not None:
            first = local_wall(span[0], limits.timezone).date() - timedelta(days=1)
            last = local_wall(span[1], limits.timezone).date() + timedelta(days=2)
            self._cache(first, (last - first).days)
        for row in sorted(busy, key=lambda row: row.starts_at):
            self.add(row.starts_at)

    def _keys(self, at: datetime) -> tuple[date, tuple[int, int]]:
        assert self.limits is not None
        day = self._day_of(at)
        week = self._weeks.get(day)
        if week is None:
            iso = day.isocalendar()
            week = self._weeks[day] = (iso.year, iso.week)
        return day, week

    def _day_of(self, at: datetime) -> date:
        """``at``'s local date in the limits' zone: found among cached local midnights
        (a bisect) rather than converted each time (a page asks for ~1,000)."""
        assert self.limits is not None
        position = bisect.bisect_right(self._midnights, at) - 1
        if 0 <= position < len(self._midnights) - 1:
            return self._dates[position]
        day = local_wall(at, self.limits.timezone).date()
        self._cache(day - timedelta(days=7), 43)
        return day

    def _cache(self, first: date, days: int) -> None:
        """Local midnights of ``days`` dates from ``first`` on."""
        assert self.limits is not None
        self._dates = [first + timedelta(days=n) for n in range(days)]
        self._midnights = [combine(d, time(0), self.limits.timezone) for d in self._dates]

    def add(self, at: datetime) -> None:
        if self.limits is None:
            return
        day, week = self._keys(at)
        self.days[day] += 1
        self.weeks[week] += 1

    def full(self, at: datetime) -> bool:
        if self.limits is None:
            return False
        day, week = self._keys(at)
        per_day, per_week = self.limits.per_day, self.limits.per_week
        return (per_day is not None and self.days[day] >= per_day) or (
            per_week is not None and self.weeks[week] >= per_week
        )


def limit_reached(limits: Limits | None, busy: Iterable[Busy], start: datetime) -> bool:
    """Whether one more booking or session starting at ``start`` would break the limits."""
    return DayCounts(limits, busy).full(start)


def bookable_times(
    slots: Sequence[SlotRule],
    overrides: Sequence[Override],
    busy: Iterable[Busy],
    limits: Limits | None,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
) -> list[Bookable]:
    """Every bookable start in ``[since, until)``, in time order (then in slot order).

    ``busy`` must cover ``[since - 8 days, until + 8 days]`` (the longest busy row,
    and whole weeks for the limits)."""
    busy = list(busy)
    index = BusyIndex(busy)
    counts = DayCounts(limits, busy, span=(since - timedelta(days=8), until + timedelta(days=8)))
    blackouts = _blackouts(overrides)
    found: list[Bookable] = []
    for slot in slots:
        earliest = max(since, now + slot.min_notice)
        latest = min(until, now + slot.booking_window)
        if earliest >= latest:
            continue
        for start in _candidates(slot, overrides, earliest, latest):
            end = start + slot.duration
            if _overlaps_any(blackouts, start, end):
                continue
            if index.overlaps(start - slot.buffer_before, end + slot.buffer_after):
                continue
            if counts.full(start):
                continue
            found.append(Bookable(slot.id, start, end, slot.price_minor, slot.currency))
    order = {slot.id: index for index, slot in enumerate(slots)}
    found.sort(key=lambda b: (b.starts_at, order[b.slot_id]))
    return found


def check_time(
    slot: SlotRule,
    overrides: Sequence[Override],
    start: datetime,
    *,
    now: datetime,
) -> Unbookable | None:
    """Why ``start`` is not a time of ``slot`` that can be booked now, before looking
    at the host's busy time and limits (those are checked under the host's lock)."""
    if start < now:
        return Unbookable.IN_THE_PAST
    end = start + slot.duration
    if start not in _candidates(slot, overrides, start - timedelta(seconds=1), end):
        return Unbookable.NOT_A_SLOT_TIME
    if _overlaps_any(_blackouts(overrides), start, end):
        return Unbookable.BLACKED_OUT
    if start < now + slot.min_notice:
        return Unbookable.TOO_SOON
    if start >= now + slot.booking_window:
        return Unbookable.TOO_FAR_AHEAD
    return None
