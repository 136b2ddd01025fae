"""Bad payloads go to the dead-letter table; the worker keeps going and loses nothing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peewee import Database

import protocol as p
from cloud.ingest.config import IngestConfig
from cloud.ingest.decoding import Decoded, Inbound
from cloud.ingest.retention import prune_dead_letters
from cloud.ingest.store import IngestStore
from cloud.ingest.worker import IngestWorker
from cloud.models import DeadLetter, DetectionEventRecord, Device, Log
from tests.cloud.factories import make_device, make_org
from tests.cloud.ingest.helpers import decoded, log_batch
from tests.protocol.strategies import detection_events, json_values, log_records


class RecordingLink:
    def __init__(self) -> None:
        self.acked: list[Inbound] = []
        self.published: list[tuple[str, bytes]] = []

    def ack(self, inbound: Inbound) -> bool:
        self.acked.append(inbound)
        return True

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        self.published.append((topic, payload))

    def receipts(self) -> list[p.Receipt]:
        return [p.decode_as(p.Receipt, payload) for _, payload in self.published]


class Harness:
    def __init__(self, db: Database) -> None:
        self.device: Device = make_device(make_org())
        self.org = self.device.org.slug
        self.link = RecordingLink()
        self.config = IngestConfig(dead_letter_payload_bytes=1024)
        self.worker = IngestWorker(
            IngestStore(db, self.config, worker="test"),
            None,  # type: ignore[arg-type]  # fed directly through process()
            self.link,
            self.config,
            prefix="sideline",
        )

    def feed(self, channel: p.Channel, payload: bytes | p.Message) -> Decoded:
        item = decoded(self.org, self.device.id, channel, payload)
        assert self.worker.process([item], threading.Event())
        assert self.link.acked[-1] is item.inbound  # acknowledged: it cannot block the queue
        return item


@pytest.fixture
def harness(db: Database) -> Harness:
    return Harness(db)


def _valid() -> dict[str, Any]:
    batch = log_batch("org", "dev", 2)
    document: dict[str, Any] = json.loads(p.encode(batch))
    return document


def _corpus(org: str, device: str) -> list[tuple[str, p.Channel, bytes]]:
    def envelope(**changes: Any) -> bytes:
        raw = _valid() | {"org": org, "device_id": device} | changes
        return json.dumps({k: v for k, v in raw.items() if v is not None}).encode()

    clips_on_logs = p.encode(
        p.EventBatch(
            org=org,
            device_id=device,
            records=[
                p.DetectionEvent(
                    id=p.new_id(),
                    camera_id="c",
                    occurred_at=p.utc_now(),
                    kind=p.DetectionEventKind.ENTER,
                    label="x",
                )
            ],
        )
    )
    return [
        ("not_json", p.Channel.LOGS, b"\xff\xfe not json"),
        ("not_json", p.Channel.LOGS, b""),
        ("not_json", p.Channel.LOGS, b"[1, 2, 3]"),
        ("not_json", p.Channel.HEARTBEAT, b"null"),
        ("unsupported_version", p.Channel.LOGS, envelope(protocol=2)),
        ("schema", p.Channel.LOGS, envelope(protocol=None)),
        ("schema", p.Channel.LOGS, envelope(records=[])),
        ("schema", p.Channel.LOGS, envelope(surprise=True)),
        ("schema", p.Channel.LOGS, envelope(sent_at="2026-01-01T10:00:00")),  # naive
        ("schema", p.Channel.LOGS, clips_on_logs),  # events on the logs channel
        ("schema", p.Channel.STATUS, envelope(state="sleepy")),
        ("too_large", p.Channel.LOGS, b"{" + b" " * (p.MAX_PAYLOAD_BYTES + 1) + b"}"),
        ("topic_mismatch", p.Channel.LOGS, p.encode(log_batch(org, "not-" + device))),
    ]


def test_every_bad_payload_is_kept_with_its_code_and_the_worker_goes_on(
    harness: Harness,
) -> None:
    corpus = _corpus(harness.org, harness.device.id)
    for _, channel, payload in corpus:
        harness.feed(channel, payload)
    good = log_batch(harness.org, harness.device.id, 3)
    harness.feed(p.Channel.LOGS, good)
    letters = list(DeadLetter.select().order_by(DeadLetter.received_at, DeadLetter.id))
    assert [letter.code for letter in letters] == [code for code, _, _ in corpus]
    for letter, (_, channel, payload) in zip(letters, corpus, strict=True):
        assert letter.channel == channel.value
        assert letter.payload_size == len(payload)
        assert bytes(letter.payload) == payload[: harness.config.dead_letter_payload_bytes]
        assert letter.truncated == (len(payload) > harness.config.dead_letter_payload_bytes)
        assert letter.reason
    assert {log.id for log in Log.select()} == {r.id for r in good.records}
    snapshot = harness.worker.stats.snapshot()
    assert snapshot.dead_letter_total == len(corpus)
    assert snapshot.messages == len(corpus) + 1


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_stop_the_worker(harness: Harness, payload: bytes) -> None:
    before = DeadLetter.select().count()
    harness.feed(p.Channel.LOGS, payload)
    assert DeadLetter.select().count() == before + 1


def _mutate(raw: Any, path: list[int], value: Any) -> Any:
    """Replace the value found by walking ``path`` (indices into keys/items)."""
    if not path or not isinstance(raw, dict | list) or not raw:
        return value
    if isinstance(raw, dict):
        key = sorted(raw)[path[0] % len(raw)]
        return raw | {key: _mutate(raw[key], path[1:], value)}
    index = path[0] % len(raw)
    return [*raw[:index], _mutate(raw[index], path[1:], value), *raw[index + 1 :]]


@SETTINGS
@given(
    records=st.lists(log_records, min_size=1, max_size=4),
    path=st.lists(st.integers(0, 20), max_size=4),
    value=json_values,
)
def test_a_mutated_batch_keeps_its_good_records_and_names_the_bad(
    harness: Harness, records: list[p.LogRecord], path: list[int], value: Any
) -> None:
    batch = p.LogBatch(org=harness.org, device_id=harness.device.id, records=records)
    raw = _mutate(json.loads(p.encode(batch)), path, value)
    published = len(harness.link.published)
    letters = DeadLetter.select().count()
    harness.feed(p.Channel.LOGS, json.dumps(raw).encode())
    receipts = [p.decode_as(p.Receipt, m) for _, m in harness.link.published[published:]]
    stored = {i for r in receipts for i in r.stored}
    rejected = {x.id for r in receipts for x in r.rejected}
    in_db = {log.id for log in Log.select().where(Log.id.in_([r.id for r in records]))}
    assert in_db == stored  # whatever was stored is receipted; nothing else is claimed
    assert not stored & rejected
    if DeadLetter.select().count() == letters:  # accepted whole: every record accounted for
        assert stored | rejected == {r.id for r in batch.records}


@SETTINGS
@given(events=st.lists(detection_events, min_size=1, max_size=5))
def test_valid_records_are_stored_or_refused_by_name_never_lost(
    harness: Harness, events: list[p.DetectionEvent]
) -> None:
    # Valid on the wire; PostgreSQL may still refuse text with NUL characters.
    batch = p.EventBatch(org=harness.org, device_id=harness.device.id, records=events)
    published = len(harness.link.published)
    harness.feed(p.Channel.EVENTS, batch)
    receipts = [p.decode_as(p.Receipt, m) for _, m in harness.link.published[published:]]
    stored = {i for r in receipts for i in r.stored}
    rejected = {x.id for r in receipts for x in r.rejected}
    ids = {e.id for e in events}
    assert stored | rejected == ids
    in_db = {
        e.id for e in DetectionEventRecord.select().where(DetectionEventRecord.id.in_(list(ids)))
    }
    assert in_db == stored


def test_dead_letters_are_pruned_by_age_and_count_newest_kept(db: Database) -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    for age_days in (40, 31, 10, 3, 2, 1):
        DeadLetter.create(
            received_at=now - timedelta(days=age_days),
            topic="sideline/v1/org/dev/logs",
            code="not_json",
            reason=f"{age_days} days old",
            payload=b"x",
            payload_size=1,
        )
    assert prune_dead_letters(now, max_age_s=30 * 86400, max_rows=100) == 2
    assert prune_dead_letters(now, max_age_s=30 * 86400, max_rows=2) == 2
    kept = [d.reason for d in DeadLetter.select().order_by(DeadLetter.received_at)]
    assert kept == ["2 days old", "1 days old"]
    assert prune_dead_letters(now, max_age_s=30 * 86400, max_rows=2) == 0
