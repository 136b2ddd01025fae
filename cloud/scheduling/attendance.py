"""Attendance arithmetic: a participant's join/leave intervals merged, and "late".

Pure functions over values (the service loads and stores them):

- Intervals that overlap or touch are merged; an interval still open (joined,
  not yet left) runs on from its start, so it swallows every later one.
- ``joined_at`` is the first join; ``left_at`` the last leave, or empty while an
  interval is open; ``duration_seconds`` the length of the merged *closed*
  intervals (time still open counts once it is closed).
- Late: the first join is later than the expected start plus the grace period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Interval", "Summary", "is_late", "merge", "summarise"]


@dataclass(frozen=True)
class Interval:
    joined_at: datetime
    left_at: datetime | None = None  # None: still there


@dataclass(frozen=True)
class Summary:
    joined_at: datetime | None
    left_at: datetime | None
    duration_seconds: int | None
    merged: list[Interval]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    ordered = sorted(intervals, key=lambda i: i.joined_at)
    merged: list[Interval] = []
    for interval in ordered:
        if merged:
            last = merged[-1]
            if last.left_at is None:
                continue  # still open: covers everything after its start
            if interval.joined_at <= last.left_at:
                end = None if interval.left_at is None else max(last.left_at, interval.left_at)
                merged[-1] = Interval(last.joined_at, end)
                continue
        merged.append(interval)
    return merged


def summarise(intervals: Sequence[Interval]) -> Summary:
    merged = merge(intervals)
    if not merged:
        return Summary(None, None, None, [])
    closed = [i for i in merged if i.left_at is not None]
    seconds = sum(int((i.left_at - i.joined_at).total_seconds()) for i in closed if i.left_at)
    left = None if merged[-1].left_at is None else merged[-1].left_at
    return Summary(merged[0].joined_at, left, seconds, merged)


def is_late(first_join: datetime, expected_start: datetime, grace: timedelta) -> bool:
    return first_join > expected_start + grace
