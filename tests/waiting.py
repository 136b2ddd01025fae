"""The one way tests wait for something to happen: poll a condition, with a bound.

The bound is a generous ceiling against a hang, never a performance figure: a
condition met late on a loaded machine still passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    timeout_s: float = 30.0,
    what: str = "the condition",
    *,
    interval_s: float = 0.05,
) -> T:
    """Poll until ``condition()`` returns something truthy and return it; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)
