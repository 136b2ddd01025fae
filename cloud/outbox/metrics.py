"""The outbox worker's Prometheus metrics (``sideline_outbox_*``), in the API's workers
or ``sideline cloud jobs``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["ATTEMPTS", "DURATION", "MESSAGES"]

ATTEMPTS = Counter(
    "sideline_outbox_attempts_total",
    "Tries to carry out an outbox message (a webhook delivery), by kind and result: "
    "delivered, retry (failed, tried again later), failed (given up), dropped (can never "
    "succeed), held (its target is paused).",
    ["kind", "result"],
)
DURATION = Histogram(
    "sideline_outbox_attempt_duration_seconds",
    "One try, by kind (a webhook: the receiver's answer time).",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
MESSAGES = Gauge(
    "sideline_outbox_messages",
    "Outbox messages waiting (pending) or given up (failed, replayable), from the database.",
    ["status"],
    multiprocess_mode="max",  # every process reads the same table
)
