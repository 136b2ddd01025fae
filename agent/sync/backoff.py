"""Exponential backoff with full jitter, so a fleet does not reconnect in lock-step.

After a broker restart every box at every field retries; with fixed doubling
they would all knock at the same instants. Each delay here is drawn uniformly
between ``min_s`` and the current ceiling, and the ceiling doubles up to ``max_s``.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if min_s <= 0 or max_s < min_s:
            raise ValueError(f"need 0 < min_s <= max_s, got {min_s}, {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures

    def ceiling(self) -> float:
        return min(self.max_s, self.min_s * 2.0 ** min(self._failures, 32))

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self._failures += 1
        return self._rng.uniform(self.min_s, ceiling)

    def reset(self) -> None:
        self._failures = 0
