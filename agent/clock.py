"""The clock seam: wall time for records and schedules, monotonic time for timeouts.

A box's wall clock can be wrong at boot (no RTC on a Pi) and jump when NTP
catches up. So timeouts and intervals use the monotonic clock, and anything
scheduled in wall time (a clip's next upload attempt) treats a time too far in
the future as due: that only happens when the clock went backwards.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from protocol import to_utc_ms

__all__ = ["Clock", "ClockJumpDetector", "SystemClock", "is_due", "utc_from"]


class Clock(Protocol):
    def time(self) -> float:
        """Wall time, seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def utc_from(clock: Clock) -> datetime:
    return to_utc_ms(datetime.fromtimestamp(clock.time(), UTC))


def is_due(scheduled_at: float, now: float, max_delay_s: float) -> bool:
    """Due if its time has come, or if it lies further ahead than any delay we set
    (the wall clock went backwards since it was scheduled)."""
    return scheduled_at <= now or scheduled_at - now > max_delay_s


class ClockJumpDetector:
    """Compares wall and monotonic progress; reports a jump larger than ``threshold_s``."""

    def __init__(self, clock: Clock, threshold_s: float = 5.0) -> None:
        self._clock = clock
        self._threshold_s = threshold_s
        self._wall = clock.time()
        self._mono = clock.monotonic()

    def check(self) -> float | None:
        """The jump in seconds since the last call (positive: forwards), or None."""
        wall, mono = self._clock.time(), self._clock.monotonic()
        drift = (wall - self._wall) - (mono - self._mono)
        self._wall, self._mono = wall, mono
        return drift if abs(drift) > self._threshold_s else None
