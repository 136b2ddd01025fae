"""Building device messages and running ingest workers in tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import protocol as p
from cloud.config import CloudConfig, CloudMqttConfig, CloudS3Config
from cloud.ingest.config import IngestConfig
from cloud.ingest.decoding import Decoded, Inbound, decode_inbound
from cloud.ingest.service import IngestService
from cloud.object_store import ObjectStore, S3ObjectStore, StoredObject
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.seaweed import SeaweedS3
from tests.fixtures.services import MQTT_ADMIN


def log_batch(
    org: str, device: str, count: int = 3, *, at: datetime | None = None, **record_fields: Any
) -> p.LogBatch:
    start = at or p.utc_now()
    return p.LogBatch(
        org=org,
        device_id=device,
        records=[
            p.LogRecord(
                id=p.new_id(),
                occurred_at=start + timedelta(milliseconds=i),
                source=p.LogSource.MARKER,
                type="marker",
                data={"n": i},
                **record_fields,
            )
            for i in range(count)
        ],
    )


def event_batch(
    org: str, device: str, count: int = 2, *, at: datetime | None = None
) -> p.EventBatch:
    start = at or p.utc_now()
    return p.EventBatch(
        org=org,
        device_id=device,
        records=[
            p.DetectionEvent(
                id=p.new_id(),
                camera_id="main",
                occurred_at=start + timedelta(milliseconds=i),
                kind=p.DetectionEventKind.ENTER,
                label="person",
                score=0.9,
            )
            for i in range(count)
        ],
    )


def clip_record(
    org: str,
    device: str,
    *,
    size: int,
    sha256: str,
    at: datetime | None = None,
    key: str | None = None,
    command_id: UUID | None = None,
) -> p.ClipRecord:
    at = at or p.utc_now()
    clip_id = p.new_id()
    return p.ClipRecord(
        id=clip_id,
        camera_id="main",
        started_at=at - timedelta(seconds=20),
        ended_at=at + timedelta(seconds=10),
        triggers=[p.Trigger(source=p.TriggerSource.BUTTON, at=at, command_id=command_id)],
        object_key=key or f"{org}/{device}/{clip_id}.mp4",
        size_bytes=size,
        sha256=sha256,
        duration_ms=30_000,
        width=1280,
        height=720,
    )


def cloud_config(broker: MosquittoBroker, database_url: str, **ingest: Any) -> CloudConfig:
    return CloudConfig(
        database_url=database_url,
        mqtt=CloudMqttConfig(
            host=broker.host, port=broker.port, username=MQTT_ADMIN[0], password=MQTT_ADMIN[1]
        ),
        ingest=IngestConfig(**ingest),
    )


class NoObjects:
    """An object store that has nothing (for tests that send no clips)."""

    def head(self, key: str) -> StoredObject | None:
        return None

    def sha256_of(self, key: str) -> str:
        raise AssertionError(f"unexpected download of {key}")


@contextmanager
def running_ingest(
    config: CloudConfig, *, object_store: ObjectStore | None = None, worker_id: str | None = None
) -> Iterator[IngestService]:
    """An ingest worker in a thread of this process, stopped on exit."""
    service = IngestService(config, object_store=object_store or NoObjects(), worker_id=worker_id)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            service.run(stop)
        except BaseException as exc:  # reported on exit
            errors.append(exc)
            service.ready.set()

    thread = threading.Thread(target=run, name="test-ingest", daemon=True)
    thread.start()
    assert service.ready.wait(30), "ingest did not start"
    assert not errors, errors
    try:
        yield service
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "ingest did not stop"
        assert not errors, errors


def inbound(
    org: str, device: str, channel: p.Channel, payload: bytes | p.Message, *, mid: int = 1
) -> Inbound:
    body = p.encode(payload) if isinstance(payload, p.Message) else payload
    return Inbound(
        topic=str(p.Topic("sideline", org, device, channel)),
        payload=body,
        mid=mid,
        qos=1,
        retain=False,
        generation=1,
        received_at=p.utc_now(),
    )


def decoded(org: str, device: str, channel: p.Channel, payload: bytes | p.Message) -> Decoded:
    return decode_inbound(inbound(org, device, channel, payload), "sideline")


def seaweed_object_store(seaweed: SeaweedS3, bucket: str = "sideline-clips") -> S3ObjectStore:
    """The ingest's view of the test SeaweedFS (admin key) for clip verification."""
    return S3ObjectStore(
        CloudS3Config(
            endpoint_url=seaweed.endpoint_url,
            bucket=bucket,
            access_key_id=seaweed.admin.access_key,
            secret_access_key=seaweed.admin.secret_key,
        )
    )
