"""Clip files into real SeaweedFS: checksums, multipart resume after kill -9, bad buckets."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.buffer.models import SyncState
from agent.buffer.store import LocalStore, StoreIdentity
from agent.buffer.uploads import PartRecord
from agent.clock import SystemClock
from agent.config import AgentConfig
from agent.sync.objectstore import FilePart, S3ObjectStore
from agent.sync.uploader import ClipUploader
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.seaweed import SeaweedS3
from tests.agent.buffer.conftest import open_store
from tests.agent.factories import make_clip, sha256_file
from tests.agent.sync.conftest import Device, agent_config, config_json
from tests.fixtures.services import S3_BUCKET
from tests.procs import child_env
from tests.waiting import wait_until

MiB = 1024**2


class CountingStore(S3ObjectStore):
    """The real S3 store, counting the parts it sends."""

    parts_sent = 0

    def upload_part(
        self, key: str, upload_id: str, part_number: int, body: FilePart, sha256: str
    ) -> PartRecord:
        self.parts_sent += 1
        return super().upload_part(key, upload_id, part_number, body, sha256)


@contextmanager
def uploading(
    store: LocalStore, config: AgentConfig, objects: S3ObjectStore | None = None
) -> Iterator[ClipUploader]:
    # The agent's own client: botocore with the box's compact data (S3's operations only).
    objects = objects or S3ObjectStore(config.s3, cache_dir=config.device.data_dir / "cache")
    uploader = ClipUploader(store, objects, config.s3, config.sync, clock=SystemClock())
    thread = threading.Thread(target=uploader.run, daemon=True)
    thread.start()
    try:
        yield uploader
    finally:
        uploader.stop()
        thread.join(30)


def identity(config: AgentConfig) -> StoreIdentity:
    return StoreIdentity(config.device.org, config.device.id)


def clip_state(store: LocalStore, clip_id: object) -> tuple[int, str | None]:
    clips = store.tables.clips
    row = clips.get(clips.id == clip_id)
    return int(row.state), row.last_error


@pytest.fixture
def config(
    tmp_path: Path, mosquitto: MosquittoBroker, seaweed: SeaweedS3, s3_device: Device
) -> AgentConfig:
    return agent_config(tmp_path, s3_device, mosquitto, seaweed)


def test_a_clip_and_its_thumbnail_land_with_verified_checksums(
    config: AgentConfig, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "buffer.db", identity(config))
    clip = make_clip(tmp_path / "clips", size=300_000)
    store.add_clip(clip)
    with uploading(store, config):
        wait_until(lambda: clip_state(store, clip.id)[0] == SyncState.UPLOADED, what="the upload")
    record = json.loads(store.tables.clips.get().body)
    s3 = seaweed.client()
    head = s3.head_object(Bucket=S3_BUCKET, Key=record["object_key"], ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == clip.sha256
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(clip.sha256)).decode()
    body = s3.get_object(Bucket=S3_BUCKET, Key=record["object_key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == clip.sha256
    thumb = s3.get_object(Bucket=S3_BUCKET, Key=record["thumbnail_key"])
    assert thumb["ContentType"] == "image/jpeg"
    assert thumb["Body"].read() == clip.thumbnail_path.read_bytes()  # type: ignore[union-attr]
    store.close()


def test_a_large_clip_goes_up_in_parts_and_completes_whole(
    config: AgentConfig, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "buffer.db", identity(config))
    clip = make_clip(tmp_path / "clips", size=12 * MiB, thumbnail=False)
    store.add_clip(clip)
    objects = CountingStore(config.s3, cache_dir=config.device.data_dir / "cache")
    with uploading(store, config, objects):
        wait_until(lambda: clip_state(store, clip.id)[0] == SyncState.UPLOADED, what="the upload")
    assert objects.parts_sent == 3
    key = json.loads(store.tables.clips.get().body)["object_key"]
    body = seaweed.client().get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == clip.sha256
    assert store.tables.parts.select().count() == 0  # part records go with the upload
    store.close()


def test_killed_mid_upload_it_resumes_and_sends_at_most_one_part_again(
    config: AgentConfig, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "data" / "buffer.db", identity(config))
    clip = make_clip(tmp_path / "clips", size=20 * MiB, thumbnail=False)  # 4 parts
    store.add_clip(clip)
    store.close()
    part_log = tmp_path / "parts.log"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.agent.sync.upload_child", config_json(config), str(part_log)],
        env=child_env(),
    )
    try:
        wait_until(
            lambda: part_log.exists() and part_log.read_text().count("done") >= 2,
            what="half of the parts",
        )
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    first_run = part_log.read_text().split()
    started = first_run.count("start")
    store = open_store(tmp_path / "data" / "buffer.db", identity(config))
    recorded = store.tables.parts.select().count()
    assert 2 <= recorded < 4
    objects = CountingStore(config.s3, cache_dir=config.device.data_dir / "cache")
    with uploading(store, config, objects):
        wait_until(lambda: clip_state(store, clip.id)[0] == SyncState.UPLOADED, what="the resume")
    # Every part not recorded went up again; of those, at most one had reached S3 before.
    assert objects.parts_sent == 4 - recorded
    assert started + objects.parts_sent <= 4 + 1
    key = json.loads(store.tables.clips.get().body)["object_key"]
    body = seaweed.client().get_object(Bucket=S3_BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == clip.sha256
    store.close()


def test_stale_and_orphaned_multipart_uploads_are_aborted(
    config: AgentConfig, seaweed: SeaweedS3, s3_device: Device, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "buffer.db", identity(config))
    objects = S3ObjectStore(config.s3)
    orphan_key = f"org1/{s3_device.id}/2026/01/01/orphan.mp4"
    orphan = objects.create_multipart(orphan_key, sha256="0" * 64, content_type="video/mp4")
    clip = make_clip(tmp_path / "clips", size=6 * MiB, thumbnail=False)
    store.add_clip(clip)
    record_key = json.loads(store.tables.clips.get().body)["object_key"]
    stale = objects.create_multipart(record_key, sha256=clip.sha256, content_type="video/mp4")
    store.uploads.begin_multipart(clip.id, stale, time.time() - 2 * 86_400)
    with uploading(store, config, objects):
        wait_until(lambda: clip_state(store, clip.id)[0] == SyncState.UPLOADED, what="the upload")
    assert objects.list_parts(orphan_key, orphan) is None  # aborted: not known to the store
    assert objects.list_parts(record_key, stale) is None  # aborted: a day old
    store.close()


def test_a_missing_bucket_is_a_clear_error_and_the_clip_waits(
    config: AgentConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # To a device key a bucket that does not exist is AccessDenied, like a foreign one.
    bad = config.model_copy(
        update={"s3": config.s3.model_copy(update={"bucket": "no-such-bucket"})}
    )
    store = open_store(tmp_path / "buffer.db", identity(config))
    clip = make_clip(tmp_path / "clips", size=1000)
    store.add_clip(clip)
    with uploading(store, bad) as uploader:
        wait_until(lambda: clip_state(store, clip.id)[1], what="the failure")
        assert uploader.alive(5)
    state, error = clip_state(store, clip.id)
    assert state == SyncState.PENDING  # kept, to be retried
    assert "AccessDenied" in str(error) and "check s3.bucket" in str(error)
    assert "check s3.bucket" in caplog.text
    store.close()


def test_unreachable_s3_is_retried_with_backoff(config: AgentConfig, tmp_path: Path) -> None:
    down = config.model_copy(
        update={
            "s3": config.s3.model_copy(
                update={"endpoint_url": "http://127.0.0.1:9", "timeout_s": 1}
            )
        }
    )
    store = open_store(tmp_path / "buffer.db", identity(config))
    clip = make_clip(tmp_path / "clips", size=1000)
    store.add_clip(clip)
    with uploading(store, down):
        wait_until(lambda: store.tables.clips.get().attempts >= 2, what="two attempts")
    row = store.tables.clips.get()
    assert row.state == SyncState.PENDING and row.next_attempt_at > 0
    store.close()


def test_a_file_that_changed_on_disk_is_refused_not_uploaded(
    config: AgentConfig, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "buffer.db", identity(config))
    clip = make_clip(tmp_path / "clips", size=2000)
    store.add_clip(clip)
    with clip.path.open("r+b") as handle:  # a flipped byte on the SD card
        handle.seek(100)
        handle.write(b"\x00" if handle.read(1) != b"\x00" else b"\x01")
    assert sha256_file(clip.path) != clip.sha256
    with uploading(store, config):
        wait_until(lambda: clip_state(store, clip.id)[0] == SyncState.REJECTED, what="the refusal")
    assert "no longer matches" in str(clip_state(store, clip.id)[1])
    store.close()
