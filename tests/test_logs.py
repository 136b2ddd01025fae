"""The agent's log handler holds back repeats: a condition that recurs cannot flood the card."""

from __future__ import annotations

import logging

from sideline.logs import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str, *args: object, level: int = logging.WARNING, name: str = "agent.x"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_at_most_a_burst_per_kind_per_window_and_the_count_rides_on_the_next() -> None:
    clock = Clock()
    limit = RateLimit(burst=3, window_s=60, clock=clock)
    template = "lost the broker connection: %s; reconnecting"
    passed = [limit.filter(record(template, f"reason {i}")) for i in range(10)]
    assert passed == [True] * 3 + [False] * 7
    # Another message of the same logger, another logger: kinds of their own.
    assert limit.filter(record("connected to %s:%s", "127.0.0.1", 1883))
    assert limit.filter(record(template, "x", name="agent.y"))
    clock.now += 61
    next_one = record(template, "reason 10")
    assert limit.filter(next_one)
    assert next_one.getMessage() == (
        "lost the broker connection: reason 10; reconnecting "
        "(and 7 more like it held back in the last 60 s)"
    )
    assert limit.held_back == 7


def test_critical_always_passes() -> None:
    limit = RateLimit(burst=1, window_s=60, clock=Clock())
    assert all(
        limit.filter(record("the %s loop crashed", "mqtt", level=logging.CRITICAL))
        for _ in range(5)
    )
