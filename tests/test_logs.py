"""Log handling: the agent's handler holds back repeats (a condition that recurs cannot flood
the card), and ``--log-format json`` writes one JSON object per line with the fields bound
for the request."""

from __future__ import annotations

import io
import json
import logging

from core.logcontext import log_fields
from sideline.logs import JsonFormatter, RateLimit


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


def test_a_json_line_carries_its_context_extras_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        with log_fields(request_id="r-1"):
            logger.warning("hello %s", "world", extra={"status": 503})
            try:
                raise ValueError("boom\nsecond line")
            except ValueError:
                logger.exception("it failed")
        logger.info("after")  # below the logger's level: not written
        logger.error("outside")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    first, failed, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello world" and first["status"] == 503
    assert first["request_id"] == "r-1" and first["level"] == "WARNING"
    assert first["time"].endswith("+00:00")
    assert failed["request_id"] == "r-1"
    assert "ValueError: boom" in failed["exception"]
    assert "request_id" not in outside  # the context ended with its block
