"""No single message stops the ingest: whatever fails while handling one ends as a
dead letter or a refusal by id, and a message that keeps stopping workers is set aside.

The year-9999 session is the case that crash-looped the shared ingest (a log
inside its window made ``cloud/attach.py`` overflow, the writer died, the broker
re-delivered the unacknowledged message, and the worker died again on every
restart). The tests below hold every level to it: the attachment itself, a
property over arbitrary records and sessions through the real worker, injected
faults at each stage of a group, the real ``sideline cloud ingest`` process, and
the broker's re-delivery of a message that never finishes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from peewee import Database

import protocol as p
from cloud.ingest import record_writer, store
from cloud.ingest.decoding import Decoded, decode_inbound
from cloud.models import DeadLetter, IngestAttempt, Log, SessionDevice, SessionStatus
from tests.cloud.factories import make_device, make_org, make_session
from tests.cloud.ingest.helpers import decoded, inbound, log_batch
from tests.cloud.ingest.resender import ResendingPublisher
from tests.cloud.ingest.test_dead_letters import Harness
from tests.cloud.ingest.test_faults import _start_worker, _waiting_on_lock, writes_blocked
from tests.fixtures.services import MQTT_ADMIN, BrokerFactory
from tests.waiting import wait_until

END_OF_9999 = datetime(9999, 12, 31, 22, 0, tzinfo=UTC)


@pytest.fixture
def harness(db: Database) -> Harness:
    return Harness(db)


def _receipts(harness: Harness, since: int) -> list[p.Receipt]:
    return [p.decode_as(p.Receipt, m) for _, m in harness.link.published[since:]]


def test_a_log_in_a_session_at_the_end_of_year_9999_is_stored_in_it(harness: Harness) -> None:
    session = make_session(
        harness.device.org,
        devices=[harness.device],
        status=SessionStatus.SCHEDULED,
        scheduled_at=END_OF_9999,
        duration_minutes=240,  # would end in year 10000
    )
    batch = log_batch(harness.org, harness.device.id, 2, at=END_OF_9999 + timedelta(hours=1))
    harness.feed(p.Channel.LOGS, batch)
    [receipt] = _receipts(harness, 0)
    assert set(receipt.stored) == {r.id for r in batch.records}
    assert {log.session_id for log in Log.select()} == {session.id}


# -- the property: arbitrary sessions and records, extreme dates included ---------------

_EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
extreme_times = st.one_of(
    st.sampled_from([_EARLIEST, _LATEST, _LATEST - timedelta(minutes=1), END_OF_9999]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
        lambda t: p.to_utc_ms(t.replace(tzinfo=UTC))
    ),
)


@st.composite
def sessions_on_the_device(draw: st.DrawFn) -> list[dict[str, Any]]:
    sessions = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(extreme_times)
        kind = draw(st.sampled_from(["scheduled", "live", "ended"]))
        fields: dict[str, Any] = {"camera": draw(st.sampled_from([None, "main", "goal"]))}
        if kind == "scheduled":
            fields |= {
                "status": SessionStatus.SCHEDULED,
                "scheduled_at": start,
                "duration_minutes": draw(st.integers(1, 7 * 24 * 60)),
            }
        elif kind == "live":
            fields |= {"started_at": start}
        else:
            later = extreme_times.filter(partial(operator.le, start))  # t >= start
            end = draw(st.sampled_from([start, _LATEST]) | later)
            fields |= {"started_at": start, "ended_at": end}
        sessions.append(fields)
    return sessions


_PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_PROPERTY
@given(
    sessions=sessions_on_the_device(),
    times=st.lists(extreme_times, min_size=1, max_size=6),
    cameras=st.lists(st.sampled_from([None, "main", "goal"]), min_size=6, max_size=6),
)
def test_arbitrary_records_and_sessions_never_stop_the_worker(
    db: Database, sessions: list[dict[str, Any]], times: list[datetime], cameras: list[str | None]
) -> None:
    harness = Harness(db)  # a fresh organisation and device per example
    made = []
    for fields in sessions:
        camera = fields.pop("camera")
        session = make_session(harness.device.org, **fields)
        SessionDevice.create(session=session, device=harness.device, camera_id=camera)
        made.append(session.id)
    records = [
        p.LogRecord(
            id=p.new_id(),
            occurred_at=at,
            source=p.LogSource.MARKER,
            type="marker",
            camera_id=camera,
        )
        for at, camera in zip(times, cameras, strict=False)
    ]
    batch = p.LogBatch(org=harness.org, device_id=harness.device.id, records=records)
    harness.feed(p.Channel.LOGS, batch)  # acknowledged, whatever happened inside
    receipts = _receipts(harness, 0)
    stored = {i for r in receipts for i in r.stored}
    refused = {x.id for r in receipts for x in r.rejected}
    ids = {r.id for r in records}
    assert stored | refused == ids and not stored & refused
    rows = {log.id: log.session_id for log in Log.select().where(Log.id.in_(list(ids)))}
    assert set(rows) == stored
    assert {s for s in rows.values() if s is not None} <= set(made)


# -- injected faults: a bug anywhere costs its own record or message, not the worker ------


def test_a_failure_filing_one_devices_records_refuses_only_them(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_device(harness.device.org)
    original = record_writer.windows_for_device

    def failing(device_id: str, earliest: datetime, latest: datetime) -> Any:
        if device_id == harness.device.id:
            raise OverflowError("date value out of range")
        return original(device_id, earliest, latest)

    monkeypatch.setattr(record_writer, "windows_for_device", failing)
    hit = log_batch(harness.org, harness.device.id, 3)
    spared = log_batch(harness.org, other.id, 2)
    group = [
        decoded(harness.org, harness.device.id, p.Channel.LOGS, hit),
        decoded(harness.org, other.id, p.Channel.LOGS, spared),
    ]
    assert harness.worker.process(group, threading.Event())
    assert [d.inbound for d in group] == harness.link.acked
    by_message = {r.for_message_id: r for r in _receipts(harness, 0)}
    assert set(by_message[spared.message_id].stored) == {r.id for r in spared.records}
    refused = by_message[hit.message_id]
    assert refused.stored == [] and {x.id for x in refused.rejected} == {r.id for r in hit.records}
    assert all("OverflowError" in x.reason for x in refused.rejected)
    [letter] = DeadLetter.select()
    assert (letter.code, letter.device_id) == ("internal_error", harness.device.id)
    assert bytes(letter.payload) == p.encode(hit) and not letter.truncated  # whole, to replay
    assert {log.id for log in Log.select()} == {r.id for r in spared.records}


def test_a_failure_on_a_device_message_dead_letters_it_and_the_group_goes_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(store, "apply_heartbeat", broken)
    heartbeat = p.Heartbeat(
        org=harness.org,
        device_id=harness.device.id,
        uptime_s=5,
        disk_free_bytes=10**9,
        disk_total_bytes=3 * 10**9,
        backlog=p.Backlog(logs=0, clips=0, events=0, clip_bytes=0),
    )
    logs = log_batch(harness.org, harness.device.id, 2)
    group = [
        decoded(harness.org, harness.device.id, p.Channel.HEARTBEAT, heartbeat),
        decoded(harness.org, harness.device.id, p.Channel.LOGS, logs),
    ]
    assert harness.worker.process(group, threading.Event())
    assert len(harness.link.acked) == 2
    [letter] = DeadLetter.select()
    assert (letter.code, letter.channel) == ("internal_error", "heartbeat")
    assert "RecursionError" in letter.reason
    assert {log.id for log in Log.select()} == {r.id for r in logs.records}


def test_a_failure_encoding_one_record_refuses_that_record(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = log_batch(harness.org, harness.device.id, 3)
    bad = batch.records[1].id
    spec = record_writer.KIND_SPECS["logs"]
    values = spec.record_values

    def record_values(record: Any) -> tuple[Any, ...]:
        if record.id == bad:
            raise ValueError("cannot encode this one")
        return values(record)

    monkeypatch.setitem(
        record_writer.KIND_SPECS, "logs", dataclasses.replace(spec, record_values=record_values)
    )
    item = decode_inbound(
        inbound(harness.org, harness.device.id, p.Channel.LOGS, batch), "sideline"
    )
    item.prepared = None  # as if encoding on receipt had failed too
    assert harness.worker.process([item], threading.Event())
    [receipt] = _receipts(harness, 0)
    assert set(receipt.stored) == {r.id for r in batch.records} - {bad}
    assert [x.id for x in receipt.rejected] == [bad]
    assert DeadLetter.get().code == "internal_error"


# -- re-delivery: a message that keeps stopping workers is set aside ----------------------


def _redelivered(harness: Harness, batch: p.LogBatch) -> Decoded:
    item = decoded(harness.org, harness.device.id, p.Channel.LOGS, batch)
    item.inbound = type(item.inbound)(**{**_fields(item.inbound), "dup": True})
    return item


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


def test_a_redelivered_message_that_finishes_leaves_no_attempt(harness: Harness) -> None:
    batch = log_batch(harness.org, harness.device.id, 2)
    assert harness.worker.process([_redelivered(harness, batch)], threading.Event())
    assert IngestAttempt.select().count() == 0
    assert {log.id for log in Log.select()} == {r.id for r in batch.records}


def test_a_message_whose_starts_never_finished_is_set_aside_as_poison(harness: Harness) -> None:
    batch = log_batch(harness.org, harness.device.id, 2)
    item = _redelivered(harness, batch)
    limit = harness.config.poison_after_attempts
    digest = None
    for _ in range(limit):  # each start counted, then the worker "died" inside it
        digest = _digest(item)
        harness.worker.store.begin_attempt(digest, item.inbound.topic)
    assert IngestAttempt.get_by_id(digest).attempts == limit
    assert harness.worker.process([item], threading.Event())
    assert harness.link.acked == [item.inbound]
    [letter] = DeadLetter.select()
    assert letter.code == "poison" and bytes(letter.payload) == p.encode(batch)
    [receipt] = _receipts(harness, 0)
    assert receipt.stored == [] and {x.id for x in receipt.rejected} == {
        r.id for r in batch.records
    }
    assert "poison" in receipt.rejected[0].reason
    assert Log.select().count() == 0 and IngestAttempt.select().count() == 0


def _digest(item: Decoded) -> str:
    return hashlib.sha256(item.inbound.topic.encode() + b"\0" + item.inbound.payload).hexdigest()


def test_mosquitto_marks_a_redelivered_message_dup(broker_factory: BrokerFactory) -> None:
    """What the poison check relies on: a message delivered to a persistent session and
    never acknowledged comes again, after the subscriber reconnects, with DUP set."""
    broker = broker_factory()
    topic = "sideline/v1/o/d/logs"
    received: list[tuple[bytes, bool]] = []
    got = threading.Event()

    def subscriber() -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="dup-probe",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(*MQTT_ADMIN)

        def on_message(c: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            received.append((bytes(message.payload), bool(message.dup)))
            got.set()

        client.on_message = on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 600
        client.connect(broker.host, broker.port, clean_start=False, properties=properties)
        client.subscribe(topic, qos=1)
        client.loop_start()
        return client

    first = subscriber()
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.username_pw_set(*MQTT_ADMIN)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    wait_until(first.is_connected, timeout_s=10, what="subscriber")
    publisher.publish(topic, b"once", qos=1).wait_for_publish(10)
    assert got.wait(10)
    first.loop_stop()
    socket = first.socket()
    assert socket is not None
    socket.close()  # dies without acknowledging (no DISCONNECT either)
    got.clear()
    second = subscriber()
    try:
        assert got.wait(15), "not re-delivered"
        assert received == [(b"once", False), (b"once", True)]
    finally:
        second.loop_stop()
        second.disconnect()
        publisher.loop_stop()
        publisher.disconnect()


# -- the real process ---------------------------------------------------------------------


def test_the_ingest_process_survives_the_message_that_crash_looped_it(
    tmp_path: Path, db: Database, db_url: str, broker_factory: BrokerFactory
) -> None:
    broker = broker_factory()
    org = make_org()
    device = make_device(org)
    session = make_session(
        org,
        devices=[device],
        status=SessionStatus.SCHEDULED,
        scheduled_at=END_OF_9999,
        duration_minutes=240,
    )
    topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.LOGS))
    box = ResendingPublisher(broker, *MQTT_ADMIN, org=org.slug, device=device.id, resend_after_s=60)
    worker = _start_worker(tmp_path, broker, db_url, "steady")
    try:
        poison = log_batch(org.slug, device.id, 2, at=END_OF_9999 + timedelta(hours=1))
        box.send(topic, poison)
        after = log_batch(org.slug, device.id, 3)
        box.send(topic, after)
        assert box.wait_all_receipted(30), "not every batch was receipted"
        assert worker.poll() is None, (tmp_path / "steady.log").read_text()
        logs = {log.id: log.session_id for log in Log.select()}
        assert logs == {
            **{r.id: session.id for r in poison.records},
            **{r.id: None for r in after.records},
        }
    finally:
        box.close()
        worker.terminate()
        worker.wait(30)


def test_a_message_that_stops_the_process_each_time_is_set_aside_on_redelivery(
    tmp_path: Path, pg_db: Database, cloud_postgres_url: str, broker_factory: BrokerFactory
) -> None:
    """A worker killed inside the same message on every start (here: held by a lock
    and killed) stops being given it: after ``poison_after_attempts`` starts it is a
    poison dead letter, its records refused, and the worker takes the next message.
    PostgreSQL only: the test's lock must leave the attempts table writable."""
    pg_url = cloud_postgres_url
    broker = broker_factory()
    org = make_org()
    device = make_device(org)
    topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.LOGS))
    box = ResendingPublisher(
        broker, *MQTT_ADMIN, org=org.slug, device=device.id, resend_after_s=120
    )
    extra = "[ingest]\npoison_after_attempts = 1\n"
    stuck = log_batch(org.slug, device.id, 2)
    try:
        with writes_blocked(pg_url):
            worker = _start_worker(tmp_path, broker, pg_url, "killed", extra=extra)
            box.send(topic, stuck)  # the first delivery: not counted
            wait_until(
                lambda: _waiting_on_lock(pg_url), timeout_s=20, what="the worker inside the message"
            )
            worker.kill()
            worker.wait()
            worker = _start_worker(tmp_path, broker, pg_url, "killed", extra=extra)
            wait_until(
                lambda: IngestAttempt.select().count() == 1,
                timeout_s=20,
                what="the counted re-delivery",
            )
            worker.kill()  # inside it again
            worker.wait()
            assert IngestAttempt.select().count() == 1
        worker = _start_worker(tmp_path, broker, pg_url, "killed", extra=extra)
        try:
            assert box.wait_all_receipted(30), "the poison message got no receipt"
            later = log_batch(org.slug, device.id, 1)
            box.send(topic, later)
            assert box.wait_all_receipted(30)
        finally:
            worker.terminate()
            worker.wait(30)
        [letter] = DeadLetter.select()
        assert letter.code == "poison" and bytes(letter.payload) == p.encode(stuck)
        assert {log.id for log in Log.select()} == {r.id for r in later.records}
        assert box.refused == {r.id for r in stuck.records}
        assert IngestAttempt.select().count() == 0
    finally:
        box.close()
