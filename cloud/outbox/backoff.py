"""When to try a failed message again: exponential backoff with jitter, for a while."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["DEFAULT_BACKOFF", "Backoff"]


@dataclass(frozen=True)
class Backoff:
    """``first`` after the first failure, doubling up to ``longest``; retried for
    ``retry_for`` from when the message was made (then it is failed, and replayable).

    With the defaults (30 s doubling to an hour, for 25 hours) a message that
    keeps failing is tried about 32 times: 30 s, 1, 2, 4, 8, 16, 32 minutes,
    then hourly."""

    first: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(hours=1)
    retry_for: timedelta = timedelta(hours=25)
    jitter: float = 0.1  # +/- this fraction, so failed messages do not retry in step

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed try (1, 2, ...)."""
        exponent = min(max(attempts - 1, 0), 30)
        base: timedelta = min(self.first * (2**exponent), self.longest)
        spread = base.total_seconds() * self.jitter
        return base + timedelta(seconds=random.uniform(-spread, spread))


DEFAULT_BACKOFF = Backoff()
