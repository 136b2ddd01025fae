"""The ingest worker's Prometheus metrics (``sideline_ingest_*``, ``sideline_fleet_*``).

Recorded by the writer after each commit (:func:`observe_group`), by the clip
verifier and the receipt path; the fleet gauges are refreshed by housekeeping
from ``device_status`` (every worker computes the same figures: take ``max``
across workers, as the Grafana dashboard does). See docs/operations.md for what
to alert on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from cloud.ingest.decoding import Decoded

__all__ = [
    "ACKS_SKIPPED",
    "CLIP_VERIFICATIONS",
    "DB_RETRIES",
    "observe_group",
    "observe_receipt",
    "set_fleet",
    "watch_worker",
]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

MESSAGES = Counter(
    "sideline_ingest_messages_total",
    "MQTT messages written (committed and acknowledged), by channel.",
    ["channel"],
)
RECORDS = Counter(
    "sideline_ingest_records_total",
    "Records of logs, clips and events: inserted, already stored (a re-send) or rejected.",
    ["channel", "result"],
)
BATCH_RECORDS = Histogram(
    "sideline_ingest_batch_records",
    "Records per message, by channel.",
    ["channel"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
TRANSACTION_MESSAGES = Histogram(
    "sideline_ingest_transaction_messages",
    "Messages written in one transaction.",
    buckets=(1, 2, 5, 10, 20, 50, 100),
)
COMMIT_SECONDS = Histogram(
    "sideline_ingest_commit_duration_seconds",
    "One group's transaction, from its first statement to its commit.",
    buckets=_LATENCY_BUCKETS,
)
LAG_SECONDS = Histogram(
    "sideline_ingest_lag_seconds",
    "From a message's sent_at (the box's clock) to the commit of its records, by channel.",
    ["channel"],
    buckets=_LAG_BUCKETS,
)
RECEIPT_SECONDS = Histogram(
    "sideline_ingest_receipt_latency_seconds",
    "From receiving a record message to publishing its receipt (clips: after verification).",
    ["channel"],
    buckets=_LAG_BUCKETS,
)
RECEIPTS = Counter("sideline_ingest_receipts_total", "Receipts published to devices.")
DEAD_LETTERS = Counter(
    "sideline_ingest_dead_letters_total", "Messages set aside as dead letters, by code.", ["code"]
)
DB_RETRIES = Counter(
    "sideline_ingest_db_retries_total", "Transactions retried because the database was unavailable."
)
ACKS_SKIPPED = Counter(
    "sideline_ingest_acks_skipped_total",
    "Messages whose connection dropped before their commit: the broker delivers them again.",
)
CLIP_VERIFICATIONS = Counter(
    "sideline_ingest_clip_verifications_total",
    "Clip objects checked against the bucket: ready, retry (missing or different, checked "
    "again), failed (given up), store_unavailable.",
    ["result"],
)
QUEUED = Gauge("sideline_ingest_queued_messages", "Decoded messages waiting for a writer.")
MQTT_CONNECTED = Gauge(
    "sideline_ingest_mqtt_connected", "1 while the worker's broker connection is up."
)
MQTT_CONNECTIONS = Gauge(
    "sideline_ingest_mqtt_connections",
    "Connections made to the broker since start (1: never lost).",
)

FLEET_DEVICES = Gauge(
    "sideline_fleet_devices",
    "Registered, not retired devices by their last status (online, offline); 'stale': online "
    "but no heartbeat for three intervals.",
    ["state"],
)
FLEET_BACKLOG = Gauge(
    "sideline_fleet_backlog_records", "Records waiting on boxes, by their latest heartbeats."
)
FLEET_OLDEST = Gauge(
    "sideline_fleet_oldest_unsynced_seconds",
    "The oldest unsynced record's age on any box, by its latest heartbeat.",
)
DEVICE_BACKLOG = Gauge(
    "sideline_fleet_device_backlog_records",
    "Backlog of the boxes with the largest backlogs (the top few only: a label per box of a "
    "whole fleet would be too many series).",
    ["org", "device"],
)


def observe_group(
    group: Iterable[Decoded],
    *,
    by_channel: dict[str, tuple[int, int, int]],
    dead_letters: dict[str, int],
    commit_s: float,
    committed_at: datetime,
) -> None:
    """One committed group: ``by_channel`` maps a record channel to (inserted,
    duplicate, rejected)."""
    messages = 0
    for decoded in group:
        messages += 1
        if decoded.topic is None:
            MESSAGES.labels("unknown").inc()
            continue
        channel = decoded.topic.channel.value
        MESSAGES.labels(channel).inc()
        message = decoded.message
        if message is None:
            continue
        records = getattr(message, "records", None)
        if records is not None:
            BATCH_RECORDS.labels(channel).observe(len(records) + len(decoded.rejected))
        lag = (committed_at - message.sent_at).total_seconds()
        LAG_SECONDS.labels(channel).observe(max(0.0, lag))
    TRANSACTION_MESSAGES.observe(messages)
    COMMIT_SECONDS.observe(commit_s)
    for channel, (inserted, duplicate, rejected) in by_channel.items():
        if inserted:
            RECORDS.labels(channel, "inserted").inc(inserted)
        if duplicate:
            RECORDS.labels(channel, "duplicate").inc(duplicate)
        if rejected:
            RECORDS.labels(channel, "rejected").inc(rejected)
    for code, count in dead_letters.items():
        DEAD_LETTERS.labels(code).inc(count)


def observe_receipt(channel: str, received_at: datetime | None, now: datetime) -> None:
    RECEIPTS.inc()
    if received_at is not None:
        RECEIPT_SECONDS.labels(channel).observe(max(0.0, (now - received_at).total_seconds()))


def watch_worker(
    *, queued: Callable[[], int], connected: Callable[[], bool], connections: Callable[[], int]
) -> None:
    """Gauges read at scrape time from the running worker."""
    QUEUED.set_function(queued)
    MQTT_CONNECTED.set_function(lambda: 1.0 if connected() else 0.0)
    MQTT_CONNECTIONS.set_function(connections)


def set_fleet(
    counts: dict[str, int],
    *,
    backlog: int,
    oldest_s: float,
    top: list[tuple[str, str, int]],
) -> None:
    for state in ("online", "offline", "stale"):
        FLEET_DEVICES.labels(state).set(counts.get(state, 0))
    FLEET_BACKLOG.set(backlog)
    FLEET_OLDEST.set(oldest_s)
    DEVICE_BACKLOG.clear()
    for org, device, records in top:
        DEVICE_BACKLOG.labels(org, device).set(records)
