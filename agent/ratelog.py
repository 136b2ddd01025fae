"""Logging a condition that persists (a full disk, a refused login) without flooding the journal.

The first occurrence is logged at its level; repeats within ``every_s`` go to
DEBUG, with a count when the next full-level line is written.
"""

from __future__ import annotations

import logging
import time

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, every_s: float = 60.0) -> None:
        self._logger = logger
        self._every_s = every_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._every_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            self._logger.debug(message, *args)
            return
        self._last[key] = now
        repeats = self._suppressed.pop(key, 0)
        suffix = f" (repeated {repeats} times since the last report)" if repeats else ""
        self._logger.log(level, message + suffix, *args)

    def clear(self, key: str) -> bool:
        """The condition ended; True if it had been reported."""
        self._suppressed.pop(key, None)
        return self._last.pop(key, None) is not None
