"""No press is lost to a power cut: the real agent SIGKILLed during a clip's post-roll, its
commit and its upload, then started again (tests/agent/power.py).

Every press the box answered with a clip id ends in the cloud's clip table exactly
once: as a ready clip (cut from the recorded segments when continuous recording
is on, or the file the commit had finished), or as a failed clip whose reason
says the power was lost before the clip was complete. Nothing half-written is
left: no partial MP4, no manifest, no open promise, no unfinished multipart
upload.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from agent.sync.config import S3Config
from agent.sync.objectstore import S3ObjectStore
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.seaweed import SeaweedS3
from tests.agent.power import Box, box_config
from tests.agent.sync.cloud_ingest import CloudRecords
from tests.agent.sync.conftest import (
    Device,
    RunningIngest,
    agent_config,
    cloud_device,
    start_ingest,
)
from tests.fixtures.services import S3_BUCKET
from tests.media import TestVideo, write_test_video
from tests.waiting import wait_until

POWER_LOST = "power lost before the clip was complete"


@dataclass
class Field:
    device: Device
    ingest: RunningIngest
    cloud: CloudRecords
    seaweed: SeaweedS3


@pytest.fixture
def field(
    tmp_path: Path, mosquitto: MosquittoBroker, seaweed: SeaweedS3, cloud_db_url: str
) -> Iterator[Field]:
    device = cloud_device(cloud_db_url, mosquitto, seaweed)
    ingest = start_ingest(mosquitto, cloud_db_url, tmp_path / "cloud", seaweed=seaweed)
    yield Field(device, ingest, ingest.records(device), seaweed)
    ingest.stop()


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory: pytest.TempPathFactory) -> TestVideo:
    folder = tmp_path_factory.mktemp("power-media")
    return write_test_video(folder / "field.mp4", seconds=4, bitrate_kbps=1500)


@pytest.fixture(scope="module")
def busy_video(tmp_path_factory: pytest.TempPathFactory) -> TestVideo:
    """720p at ~4.4 Mbit/s: an 11 s clip is ~6 MiB (two multipart parts), slow to write."""
    folder = tmp_path_factory.mktemp("power-busy")
    return write_test_video(
        folder / "busy.mp4", seconds=4, bitrate_kbps=9000, texture=True, width=1280, height=720
    )


def make_box(
    tmp_path: Path, field: Field, video: Path, mosquitto: MosquittoBroker, **sections: Any
) -> Box:
    base = agent_config(tmp_path, field.device, mosquitto, field.seaweed)
    sections.setdefault("clips", {"pre_seconds": 1, "post_seconds": 4})
    return Box(box_config(base, video, **sections), tmp_path)


def the_clip(field: Field, clip_id: str, status: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def there() -> bool:
        found[:] = [c for c in field.cloud.clips() if str(c["id"]) == clip_id]
        return bool(found) and found[0]["status"] == status

    wait_until(there, timeout_s=60, what=f"clip {clip_id} {status} in the cloud")
    return found[0]


def nothing_half_written(box: Box) -> None:
    clips = box.data_dir / "clips"
    assert not list(clips.rglob("*.partial")) and not list(clips.rglob("*.json"))
    connection = sqlite3.connect(f"file:{box.data_dir / 'buffer.db'}?mode=ro", uri=True)
    try:
        assert connection.execute("SELECT count(*) FROM pending_clips").fetchone() == (0,)
    finally:
        connection.close()


def test_killed_in_the_post_roll_without_recording_the_press_is_a_failed_clip_with_the_reason(
    tmp_path: Path, field: Field, camera_video: TestVideo, mosquitto: MosquittoBroker
) -> None:
    box = make_box(tmp_path, field, camera_video.path, mosquitto)
    box.start()
    try:
        time.sleep(1.5)  # a pre-roll in memory
        clip_id = box.press()  # "clip coming": the promise is on disk now
        box.kill()  # during the 4 s post-roll
        box.start()
        clip = the_clip(field, clip_id, "failed")
    finally:
        box.stop()
    assert clip["failure_reason"] is not None and POWER_LOST in clip["failure_reason"]
    assert clip["object_key"] == "" and clip["size_bytes"] == 0
    nothing_half_written(box)


def test_killed_in_the_post_roll_with_recording_the_clip_is_cut_from_the_segments(
    tmp_path: Path, field: Field, camera_video: TestVideo, mosquitto: MosquittoBroker
) -> None:
    box = make_box(
        tmp_path,
        field,
        camera_video.path,
        mosquitto,
        recording={"enabled": True, "segment_seconds": 1},
    )
    box.start()
    try:
        time.sleep(2.5)  # segments on disk
        pressed = time.time()
        clip_id = box.press()
        time.sleep(1.5)  # a second of post-roll recorded
        box.kill()
        box.start()
        clip = the_clip(field, clip_id, "ready")
    finally:
        box.stop()
    ended = clip["ended_at"]
    ended_at = ended.timestamp() if isinstance(ended, datetime) else float(ended)
    assert pressed < ended_at < pressed + 4  # it ends where the recording stopped
    assert clip["size_bytes"] > 0 and clip["failure_reason"] is None
    nothing_half_written(box)


def test_killed_while_the_clip_file_is_written_the_press_is_still_accounted_for(
    tmp_path: Path, field: Field, busy_video: TestVideo, mosquitto: MosquittoBroker
) -> None:
    box = make_box(
        tmp_path,
        field,
        busy_video.path,
        mosquitto,
        clips={"pre_seconds": 3, "post_seconds": 0.5},
        recording={"enabled": True, "segment_seconds": 1},
    )
    clips_dir = box.data_dir / "clips"
    box.start()
    try:
        time.sleep(3.5)
        clip_id = box.press()
        # Kill the moment the MP4 is being written (its temporary file exists).
        wait_until(
            lambda: any(clips_dir.rglob("*.partial")),
            timeout_s=20,
            what="the clip's write",
            interval_s=0.001,
        )
        box.kill()
        box.start()
        clip = the_clip(field, clip_id, "ready")
    finally:
        box.stop()
    assert clip["failure_reason"] is None
    assert [c["id"] for c in field.cloud.clips()].count(UUID(clip_id)) == 1
    nothing_half_written(box)


def test_killed_during_an_upload_the_upload_resumes_and_nothing_is_left_open(
    tmp_path: Path, field: Field, busy_video: TestVideo, mosquitto: MosquittoBroker
) -> None:
    # A clip of ~6 MiB goes up in two 5 MiB parts, at 4 Mbit/s: the kill lands between them.
    box = make_box(
        tmp_path,
        field,
        busy_video.path,
        mosquitto,
        clips={"pre_seconds": 9, "post_seconds": 2},
        s3={"bandwidth_limit_kbps": 4000},
    )
    store = box.data_dir / "buffer.db"

    def uploading() -> bool:
        if not store.exists():
            return False
        connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return bool(connection.execute("SELECT count(*) FROM upload_parts").fetchone()[0])
        finally:
            connection.close()

    box.start()
    try:
        time.sleep(9.5)
        clip_id = box.press()
        wait_until(uploading, timeout_s=40, what="the first part confirmed")
        box.kill()
        box.start()
        clip = the_clip(field, clip_id, "ready")
    finally:
        box.stop()
    assert clip["size_bytes"] > 5 * 1024**2  # it was a multipart upload
    head = field.seaweed.client().head_object(Bucket=S3_BUCKET, Key=clip["object_key"])
    assert head["ContentLength"] == clip["size_bytes"]
    assert head["Metadata"]["sha256"] == clip["sha256"]
    objects = S3ObjectStore(
        S3Config(
            endpoint_url=field.seaweed.endpoint_url,
            addressing_style="path",
            access_key_id=field.seaweed.admin.access_key,
            secret_access_key=field.seaweed.admin.secret_key,
        )
    )
    assert objects.pending_uploads(f"{field.device.org}/{field.device.id}/") == []
    connection = sqlite3.connect(store)
    try:
        assert connection.execute("SELECT count(*) FROM upload_parts").fetchone() == (0,)
    finally:
        connection.close()
    nothing_half_written(box)
