"""Clips become visible only when their object is in SeaweedFS with the right size and hash."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from peewee import Database

import protocol as p
from cloud.ingest.config import ClipVerifyConfig, IngestConfig
from cloud.ingest.store import IngestStore
from cloud.ingest.verify import ClipVerifier
from cloud.models import Clip, ClipStatus, Device, Organisation
from cloud.object_store import S3ObjectStore
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.seaweed import SeaweedS3
from tests.cloud.factories import make_device, make_org
from tests.cloud.ingest.helpers import (
    clip_record,
    cloud_config,
    decoded,
    running_ingest,
    seaweed_object_store,
)
from tests.fixtures.services import MQTT_ADMIN, S3_BUCKET
from tests.mqtt_helpers import connect

VIDEO = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40
VIDEO_SHA = hashlib.sha256(VIDEO).hexdigest()


@pytest.fixture
def object_store(seaweed: SeaweedS3) -> S3ObjectStore:
    return seaweed_object_store(seaweed, S3_BUCKET)


class Harness:
    def __init__(self, db: Database, store: S3ObjectStore, seaweed: SeaweedS3) -> None:
        self.org: Organisation = make_org()
        self.device: Device = make_device(self.org)
        self.ingest = IngestStore(db, IngestConfig(), worker="test")
        self.receipts: list[p.Receipt] = []
        self.verifier = ClipVerifier(
            db,
            store,
            ClipVerifyConfig(first_delay_s=1, max_delay_s=8, give_up_after_s=60),
            self.receive,
        )
        self.s3 = seaweed.client()

    def receive(self, receipt: p.Receipt, *, received_at: datetime | None = None) -> None:
        self.receipts.append(receipt)

    def send(self, record: p.ClipRecord) -> p.ClipBatch:
        batch = p.ClipBatch(org=self.org.slug, device_id=self.device.id, records=[record])
        result = self.ingest.write([decoded(self.org.slug, self.device.id, p.Channel.CLIPS, batch)])
        for _, receipt in result.receipts:
            self.receipts.append(receipt)
        return batch

    def clip(self, body: bytes = VIDEO, sha: str = VIDEO_SHA) -> p.ClipRecord:
        return clip_record(self.org.slug, self.device.id, size=len(body), sha256=sha)

    def upload(self, record: p.ClipRecord, body: bytes = VIDEO, metadata: bool = True) -> None:
        extra = {"Metadata": {"sha256": hashlib.sha256(body).hexdigest()}} if metadata else {}
        self.s3.put_object(Bucket=S3_BUCKET, Key=record.object_key, Body=body, **extra)  # type: ignore[arg-type]

    def check_at(self, seconds_later: float) -> int:
        return self.verifier.verify_due(now=p.utc_now() + timedelta(seconds=seconds_later))


@pytest.fixture
def harness(db: Database, object_store: S3ObjectStore, seaweed: SeaweedS3) -> Harness:
    return Harness(db, object_store, seaweed)


def test_a_clip_is_receipted_only_once_its_object_matches(harness: Harness) -> None:
    record = harness.clip()
    harness.upload(record)
    batch = harness.send(record)
    assert harness.receipts == []  # stored, but not yet known to be playable
    assert Clip.get_by_id(record.id).status is ClipStatus.PENDING
    assert harness.check_at(0) == 1
    clip = Clip.get_by_id(record.id)
    assert (clip.status, clip.failure_reason) == (ClipStatus.READY, None)
    [receipt] = harness.receipts
    assert (receipt.for_message_id, receipt.stored, receipt.rejected) == (
        batch.message_id,
        [record.id],
        [],
    )
    harness.send(record)  # a re-send of a verified clip is receipted at once
    assert harness.receipts[-1].stored == [record.id]


def test_an_object_that_arrives_late_is_found_on_a_later_check(harness: Harness) -> None:
    record = harness.clip()
    harness.send(record)
    harness.check_at(0)
    clip = Clip.get_by_id(record.id)
    assert (clip.status, clip.verify_attempts) == (ClipStatus.PENDING, 1)
    assert clip.failure_reason is not None and "not found" in clip.failure_reason
    assert harness.check_at(0.5) == 0  # not due yet: the delay doubles from first_delay_s
    harness.upload(record)
    assert harness.check_at(1.5) == 1
    assert Clip.get_by_id(record.id).status is ClipStatus.READY


def test_a_missing_object_fails_with_the_reason_and_a_rejection(harness: Harness) -> None:
    record = harness.clip()
    harness.send(record)
    for seconds in (0, 2, 10, 30, 61):
        harness.check_at(seconds)
    clip = Clip.get_by_id(record.id)
    assert clip.status is ClipStatus.FAILED
    assert clip.failure_reason is not None
    assert f"object {record.object_key!r} not found" in clip.failure_reason
    [receipt] = harness.receipts
    assert receipt.stored == []
    assert [r.id for r in receipt.rejected] == [record.id]
    assert "not found" in receipt.rejected[0].reason


@pytest.mark.parametrize(
    ("body", "metadata", "expected"),
    [
        (VIDEO[:-10], True, "object size is"),  # truncated upload
        (bytes(len(VIDEO)), False, "object SHA-256 is"),  # same size, other bytes, hashed by GET
    ],
)
def test_a_different_object_fails_verification(
    harness: Harness, body: bytes, metadata: bool, expected: str
) -> None:
    record = harness.clip()
    harness.upload(record, body, metadata=metadata)
    harness.send(record)
    harness.check_at(61)
    clip = Clip.get_by_id(record.id)
    assert clip.status is ClipStatus.FAILED
    assert clip.failure_reason is not None and expected in clip.failure_reason


def test_an_object_without_a_checksum_is_hashed(harness: Harness) -> None:
    record = harness.clip()
    harness.upload(record, metadata=False)
    harness.send(record)
    harness.check_at(0)
    assert Clip.get_by_id(record.id).status is ClipStatus.READY


def test_a_failed_clip_sent_again_is_checked_again(harness: Harness) -> None:
    record = harness.clip()
    harness.send(record)
    harness.check_at(61)
    assert Clip.get_by_id(record.id).status is ClipStatus.FAILED
    harness.upload(record)  # the box uploaded it again, then re-sent the record
    harness.send(record)
    clip = Clip.get_by_id(record.id)
    assert (clip.status, clip.verify_attempts) == (ClipStatus.PENDING, 0)
    harness.check_at(0)
    assert Clip.get_by_id(record.id).status is ClipStatus.READY
    assert harness.receipts[-1].stored == [record.id]


def test_a_clip_through_the_broker_is_receipted_after_verification(
    db: Database,
    db_url: str,
    mosquitto: MosquittoBroker,
    object_store: S3ObjectStore,
    seaweed: SeaweedS3,
) -> None:
    org = make_org()
    device = make_device(org)
    record = clip_record(org.slug, device.id, size=len(VIDEO), sha256=VIDEO_SHA)
    batch = p.ClipBatch(org=org.slug, device_id=device.id, records=[record])
    assert record.object_key is not None
    seaweed.client().put_object(
        Bucket=S3_BUCKET, Key=record.object_key, Body=VIDEO, Metadata={"sha256": VIDEO_SHA}
    )
    box = connect(mosquitto, *MQTT_ADMIN)
    try:
        box.subscribe(str(p.Topic("sideline", org.slug, device.id, p.Channel.RECEIPTS)))
        with running_ingest(cloud_config(mosquitto, db_url), object_store=object_store):
            box.publish(
                str(p.Topic("sideline", org.slug, device.id, p.Channel.CLIPS)), p.encode(batch)
            )
            [message] = box.wait_for(1, timeout=20)
        receipt = p.decode_as(p.Receipt, message.payload)
        assert (receipt.kind, receipt.for_message_id, receipt.stored) == (
            "clips",
            batch.message_id,
            [record.id],
        )
        assert Clip.get_by_id(record.id).status is ClipStatus.READY
    finally:
        box.close()


def test_a_verified_clip_announces_clip_ready_with_the_change(harness: Harness) -> None:
    from cloud.models import OutboxMessage, WebhookSubscription

    WebhookSubscription.create(
        org=harness.org, url="http://127.0.0.1:9/hook", secret="whsec_dGVzdA==",
        event_types=["clip.ready"],
    )  # fmt: skip
    record = harness.clip()
    harness.send(record)
    harness.check_at(0)  # not uploaded yet: no announcement
    assert OutboxMessage.select().count() == 0
    harness.upload(record)
    assert harness.check_at(2) == 1
    (message,) = OutboxMessage.select()
    assert (message.kind, message.event_type) == ("webhook", "clip.ready")
    assert message.payload["data"]["id"] == str(record.id)
    assert message.payload["data"]["device_id"] == harness.device.id


def test_a_verified_retrim_takes_its_clips_place_with_the_boxs_clock_beside_it(
    harness: Harness,
) -> None:
    """The box names the clip a re-trim replaces and the log it is for; once the new
    object checks out, the old clip is marked replaced, and each clip carries the
    box's clock as its heartbeats showed it."""
    from cloud.models import DeviceStatus

    DeviceStatus.create(device=harness.device.id, clock_offset_ms=1.5, clock_skew_ms=-820.0)
    log_id = p.new_id()
    first = harness.clip().model_copy(update={"log_id": log_id, "clock_offset_ms": 2.0})
    harness.upload(first)
    harness.send(first)
    assert harness.check_at(0) == 1
    second = harness.clip().model_copy(update={"log_id": log_id, "replaces": first.id})
    harness.upload(second)
    harness.send(second)
    assert Clip.get_by_id(first.id).replaced_by_id is None  # not until it is playable
    assert harness.check_at(0) == 1
    old, new = Clip.get_by_id(first.id), Clip.get_by_id(second.id)
    assert old.replaced_by_id == second.id and new.replaces_id == first.id
    assert new.status is ClipStatus.READY and new.log_id == log_id == old.log_id
    assert (old.clock_offset_ms, old.clock_skew_ms) == (2.0, -820.0)  # the record's own offset
    assert (new.clock_offset_ms, new.clock_skew_ms) == (1.5, -820.0)  # the heartbeat's


def failed_clip(harness: Harness, message: str) -> p.ClipRecord:
    at = p.utc_now()
    return p.ClipRecord(
        id=p.new_id(),
        camera_id="main",
        started_at=at - timedelta(seconds=20),
        ended_at=at + timedelta(seconds=10),
        triggers=[p.Trigger(source=p.TriggerSource.LAN, at=at, by="coach")],
        size_bytes=0,
        duration_ms=0,
        frame_count=0,
        width=1920,
        height=1080,
        failure=p.ClipFailure(reason=p.ClipFailureReason.POWER_LOST, message=message),
    )


def test_a_clip_the_box_reports_failed_is_stored_failed_and_receipted_at_once(
    harness: Harness,
) -> None:
    message = "power lost before the clip was complete"
    failed, whole = failed_clip(harness, message), harness.clip()
    harness.upload(whole)
    batch = p.ClipBatch(org=harness.org.slug, device_id=harness.device.id, records=[failed, whole])
    result = harness.ingest.write(
        [decoded(harness.org.slug, harness.device.id, p.Channel.CLIPS, batch)]
    )
    [(_, receipt)] = result.receipts
    assert receipt.stored == [failed.id] and receipt.rejected == []  # nothing to verify
    clip = Clip.get_by_id(failed.id)
    assert (clip.status, clip.failure_reason) == (ClipStatus.FAILED, message)
    assert (clip.object_key, clip.size_bytes, clip.width) == ("", 0, 1920)
    assert harness.check_at(0) == 1  # only the whole clip is checked, and it is ready
    assert Clip.get_by_id(whole.id).status is ClipStatus.READY
    assert Clip.get_by_id(failed.id).status is ClipStatus.FAILED
    again = harness.ingest.write(
        [
            decoded(
                harness.org.slug,
                harness.device.id,
                p.Channel.CLIPS,
                p.ClipBatch(org=harness.org.slug, device_id=harness.device.id, records=[failed]),
            )
        ]
    )
    assert again.receipts[0][1].stored == [failed.id]  # a re-send is answered, and stays failed
    assert Clip.get_by_id(failed.id).status is ClipStatus.FAILED
