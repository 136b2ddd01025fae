"""The ingest's transaction, without the broker: on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from peewee import Database

import protocol as p
from cloud.ingest.config import IngestConfig
from cloud.ingest.store import IngestStore
from cloud.models import DeadLetter, DetectionEventRecord, Log, SessionStatus, utc_now
from tests.cloud.factories import make_device, make_org, make_session
from tests.cloud.ingest.helpers import decoded, event_batch, log_batch


@pytest.fixture
def store(db: Database) -> IngestStore:
    return IngestStore(db, IngestConfig(), worker="test")


def test_a_batch_is_stored_and_a_resend_changes_nothing(store: IngestStore) -> None:
    org = make_org()
    device = make_device(org)
    batch = log_batch(org.slug, device.id, 20)
    first = store.write([decoded(org.slug, device.id, p.Channel.LOGS, batch)])
    snapshot = sorted((log.id, log.received_at, log.data["n"]) for log in Log.select())
    again = store.write([decoded(org.slug, device.id, p.Channel.LOGS, batch)])
    assert (first.inserted, first.duplicates) == (20, 0)
    assert (again.inserted, again.duplicates) == (0, 20)
    assert sorted((log.id, log.received_at, log.data["n"]) for log in Log.select()) == snapshot
    for result in (first, again):
        [(_, receipt)] = result.receipts
        assert receipt.for_message_id == batch.message_id
        assert set(receipt.stored) == {r.id for r in batch.records}
        assert receipt.rejected == []


def test_a_record_keeps_the_devices_id_and_fields(store: IngestStore) -> None:
    org = make_org()
    device = make_device(org)
    batch = log_batch(org.slug, device.id, 1, camera_id="goal")
    store.write([decoded(org.slug, device.id, p.Channel.LOGS, batch)])
    record = batch.records[0]
    log = Log.get_by_id(record.id)
    assert (log.org_id, log.device_id, log.camera_id) == (org.id, device.id, "goal")
    assert (log.occurred_at, log.source, log.type, log.data) == (
        record.occurred_at,
        "marker",
        "marker",
        {"n": 0},
    )
    assert log.message_id == batch.message_id


def test_several_messages_share_one_transaction(store: IngestStore) -> None:
    org = make_org()
    one, two = make_device(org), make_device(org)
    group = [
        decoded(org.slug, one.id, p.Channel.LOGS, log_batch(org.slug, one.id, 5)),
        decoded(org.slug, two.id, p.Channel.EVENTS, event_batch(org.slug, two.id, 3)),
        decoded(org.slug, one.id, p.Channel.LOGS, log_batch(org.slug, one.id, 4)),
    ]
    result = store.write(group)
    assert (result.inserted, len(result.receipts)) == (12, 3)
    assert (Log.select().count(), DetectionEventRecord.select().count()) == (9, 3)


def test_an_id_owned_by_another_device_is_refused_not_receipted(store: IngestStore) -> None:
    org = make_org()
    owner, thief = make_device(org), make_device(org)
    original = log_batch(org.slug, owner.id, 2)
    store.write([decoded(org.slug, owner.id, p.Channel.LOGS, original)])
    copied = p.LogBatch(org=org.slug, device_id=thief.id, records=original.records)
    result = store.write([decoded(org.slug, thief.id, p.Channel.LOGS, copied)])
    [(_, receipt)] = result.receipts
    assert receipt.stored == []
    assert {r.id for r in receipt.rejected} == {r.id for r in original.records}
    assert "another device" in receipt.rejected[0].reason
    assert {log.device_id for log in Log.select()} == {owner.id}


@pytest.mark.parametrize(
    ("case", "code"),
    [("unknown", "unknown_device"), ("wrong_org", "wrong_org"), ("mismatch", "topic_mismatch")],
)
def test_a_message_from_the_wrong_sender_is_dead_lettered_unanswered(
    store: IngestStore, case: str, code: str
) -> None:
    org, other = make_org(), make_org()
    device = make_device(org)
    if case == "unknown":
        item = decoded(org.slug, "ghost", p.Channel.LOGS, log_batch(org.slug, "ghost"))
    elif case == "wrong_org":
        item = decoded(other.slug, device.id, p.Channel.LOGS, log_batch(other.slug, device.id))
    else:
        item = decoded(org.slug, device.id, p.Channel.LOGS, log_batch(org.slug, "someone-else"))
    result = store.write([item])
    assert result.receipts == []  # the box keeps its records until an operator fixes it
    assert Log.select().count() == 0
    letter = DeadLetter.get()
    assert (letter.code, letter.topic, bytes(letter.payload)) == (
        code,
        item.inbound.topic,
        item.inbound.payload,
    )
    assert result.dead_letters == {code: 1}


def test_records_without_a_session_join_the_one_whose_window_contains_them(
    store: IngestStore,
) -> None:
    org = make_org()
    device, elsewhere = make_device(org), make_device(org)
    now = utc_now()
    ended = make_session(
        org,
        devices=[device],
        started_at=now - timedelta(hours=3),
        ended_at=now - timedelta(hours=2),
    )
    live = make_session(org, devices=[device], started_at=now - timedelta(minutes=30))
    make_session(org, devices=[elsewhere], started_at=now - timedelta(hours=5))  # other box
    make_session(
        org,
        devices=[device],
        started_at=now - timedelta(minutes=20),
        status=SessionStatus.CANCELLED,
    )
    batches = {
        "ended": log_batch(org.slug, device.id, 2, at=now - timedelta(hours=2, minutes=30)),
        "live": log_batch(org.slug, device.id, 2, at=now - timedelta(minutes=1)),
        "between": log_batch(org.slug, device.id, 1, at=now - timedelta(hours=1)),
    }
    store.write([decoded(org.slug, device.id, p.Channel.LOGS, b) for b in batches.values()])
    session_of = {log.id: log.session_id for log in Log.select()}
    assert {session_of[r.id] for r in batches["ended"].records} == {ended.id}
    assert {session_of[r.id] for r in batches["live"].records} == {live.id}
    assert {session_of[r.id] for r in batches["between"].records} == {None}


def test_a_named_session_of_another_org_is_not_trusted(store: IngestStore) -> None:
    org, other = make_org(), make_org()
    device = make_device(org)
    foreign_session = make_session(other, started_at=utc_now() - timedelta(minutes=5))
    own = make_session(org, devices=[device], started_at=utc_now() - timedelta(minutes=5))
    batch = log_batch(org.slug, device.id, 1, session_id=foreign_session.id)
    store.write([decoded(org.slug, device.id, p.Channel.LOGS, batch)])
    assert Log.get().session_id == own.id  # attached by its window instead


def test_one_bad_record_does_not_cost_the_rest_of_its_batch(store: IngestStore) -> None:
    org = make_org()
    device = make_device(org)
    batch = log_batch(org.slug, device.id, 3)
    raw = p.encode(batch).replace(b'"source":"marker"', b'"source":"telepathy"', 1)
    result = store.write([decoded(org.slug, device.id, p.Channel.LOGS, raw)])
    bad, *good = batch.records
    assert {log.id for log in Log.select()} == {r.id for r in good}
    [(_, receipt)] = result.receipts
    assert set(receipt.stored) == {r.id for r in good}
    assert [r.id for r in receipt.rejected] == [bad.id]
    assert "records.0.source" in receipt.rejected[0].reason
    assert DeadLetter.get().code == "schema"


def test_a_record_the_database_refuses_is_rejected_alone(db: Database, store: IngestStore) -> None:
    org = make_org()
    device = make_device(org)
    batch = log_batch(org.slug, device.id, 3)
    # Valid on the wire, refused by PostgreSQL (NUL in text) and stored by SQLite.
    poisoned = p.LogBatch(
        org=org.slug,
        device_id=device.id,
        records=[batch.records[0].model_copy(update={"type": "nul\x00here"}), *batch.records[1:]],
    )
    item = decoded(org.slug, device.id, p.Channel.LOGS, poisoned)
    try:
        result = store.write([item])
    except Exception:  # PostgreSQL: the worker retries isolated
        result = store.write([decoded(org.slug, device.id, p.Channel.LOGS, poisoned)], isolate=True)
    [(_, receipt)] = result.receipts
    stored = {log.id for log in Log.select()}
    assert stored == set(receipt.stored)
    assert {r.id for r in batch.records[1:]} <= stored
    assert len(receipt.stored) + len(receipt.rejected) == 3
