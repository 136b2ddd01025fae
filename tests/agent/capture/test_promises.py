"""Presses are durable the moment they are accepted, and none is forgotten after a power cut.

The clip writer and capture against the real store (SQLite): the promise is in the
store when ``request_clip`` returns; the clip's file ends it; a clip that cannot be
made ends it as a failed clip with the reason; at the next start an interrupted
press is cut from the recorded segments, or reported as a failed clip.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.buffer.store import LocalStore
from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.recovery import MEMORY_ONLY
from agent.capture.clips.writer import ClipWriter, RangeJob
from agent.capture.config import ClipConfig
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.capture.service import CaptureService
from agent.config import AgentConfig
from agent.interfaces.sinks import ClipPromise
from agent.interfaces.triggers import ClipRequest
from protocol import TriggerSource, new_id
from tests.agent.buffer.conftest import open_store
from tests.agent.capture.conftest import feed, trigger_at
from tests.waiting import wait_until

CONFIG = ClipConfig(
    pre_seconds=2, post_seconds=1, max_pre_seconds=3, max_post_seconds=3, ring_seconds=4
)


class Recorded:
    """Wraps the store's ledger to see what it was told, in order."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def promise_clip(self, promise: ClipPromise) -> None:
        self.store.promise_clip(promise)
        self.calls.append(f"promise {promise.id}")

    def fail_clip(self, promise: ClipPromise, reason: Any, message: str) -> None:
        self.store.fail_clip(promise, reason, message)
        self.calls.append(f"fail {promise.id} {reason.value}")

    def promised_clips(self) -> list[ClipPromise]:
        return self.store.promised_clips()


def writer_on(tmp_path: Path, store: LocalStore) -> tuple[ClipWriter, PacketRing, Recorded]:
    ring = PacketRing("cam", CONFIG.ring_seconds)
    ledger = Recorded(store)
    writer = ClipWriter(
        CONFIG, {"cam": ring}, ClipFileWriter(tmp_path / "clips", 160), store, ledger=ledger
    )
    return writer, ring, ledger


def clip_body(store: LocalStore, clip_id: object) -> dict[str, Any]:
    clips = store.tables.clips
    body: dict[str, Any] = json.loads(clips.get(clips.id == clip_id).body)
    return body


def test_a_press_is_in_the_store_before_its_id_is_returned_and_its_clip_ends_it(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    store = open_store(tmp_path / "buffer.db")
    writer, ring, ledger = writer_on(tmp_path, store)
    feed(ring, packets[:120])
    moment = packets[119].captured_at
    [clip_id] = writer.request_clip(
        ClipRequest(trigger=trigger_at(moment, TriggerSource.LAN, by="coach"), camera_id="cam")
    )
    assert ledger.calls == [f"promise {clip_id}"]
    [promised] = store.promised_clips()
    assert promised.id == clip_id and promised.triggers[0].by == "coach"
    assert promised.end.timestamp() - promised.start.timestamp() == 3.0
    assert (promised.width, promised.height) == (640, 360)
    # A second press 0.5 s later joins the clip: the promise is widened, not doubled.
    [same] = writer.request_clip(
        ClipRequest(trigger=trigger_at(moment + 0.5, by="button"), camera_id="cam")
    )
    assert same == clip_id
    [widened] = store.promised_clips()
    assert [t.by for t in widened.triggers] == ["coach", "button"]
    assert widened.end.timestamp() == promised.end.timestamp() + 0.5
    feed(ring, packets[120:])
    assert writer.process_ready() == 1
    assert store.promised_clips() == []  # the clip's file ended it, in the same commit
    assert clip_body(store, clip_id)["object_key"].endswith(f"{clip_id}.mp4")


def test_a_clip_with_no_readable_video_is_reported_failed(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    """A clip cut from recorded video (``clip_range``) whose segments cannot be read."""
    store = open_store(tmp_path / "buffer.db")
    writer, _, ledger = writer_on(tmp_path, store)
    clip_id = new_id()
    at = packets[0].captured_at
    writer.submit_range(
        RangeJob(
            clip_id=clip_id,
            camera_id="cam",
            start=at,
            end=at + 5,
            load=lambda tail: [],  # nothing readable: the segments were deleted, or rotted
            triggers=(trigger_at(at + 5, TriggerSource.CLOUD, by="dashboard"),),
            session_id=None,
            width=640,
            height=360,
        )
    )
    assert ledger.calls == [f"promise {clip_id}"]  # kept before the command is answered
    writer.process_ready()
    assert ledger.calls == [f"promise {clip_id}", f"fail {clip_id} no_video"]
    body = clip_body(store, clip_id)
    assert body["failure"]["reason"] == "no_video"
    assert "no recorded video" in body["failure"]["message"]
    assert store.promised_clips() == []


def pitch_config(tmp_path: Path, *, recording: bool) -> AgentConfig:
    return AgentConfig(
        device={"org": "club", "id": "box1", "data_dir": tmp_path},
        cameras=[
            {
                "id": "pitch",
                "kind": "test",
                "width": 320,
                "height": 240,
                "fps": 30,
                "bitrate_kbps": 400,
                "keyframe_interval_s": 0.5,
            }
        ],
        clips={"pre_seconds": 1, "post_seconds": 1, "max_pre_seconds": 2, "ring_seconds": 2},
        recording={"enabled": recording, "segment_seconds": 1},
    )


def interrupted_press(start: float, end: float) -> ClipPromise:
    """What the store holds after a power cut during a clip's post-roll."""
    at = end - 1.0
    return ClipPromise(
        id=new_id(),
        camera_id="pitch",
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
        triggers=(trigger_at(at, TriggerSource.BUTTON, by="gpio17"),),
        session_id=new_id(),
        width=320,
        height=240,
    )


def test_after_a_power_cut_the_press_is_cut_from_the_recorded_segments(tmp_path: Path) -> None:
    store = open_store(tmp_path / "buffer.db")
    config = pitch_config(tmp_path, recording=True)
    before = CaptureService(config, store, ledger=store)
    before.start()
    try:
        wait_until(lambda: len(before.recorder.segments("pitch")) >= 3)
    finally:
        before.stop()
    segments = before.recorder.segments("pitch")
    start, end = segments[0].start + 0.2, segments[-1].end + 5.0  # the cut came mid post-roll
    press = interrupted_press(start, end)
    store.promise_clip(press)
    after = CaptureService(config, store, ledger=store)
    after.start()
    try:
        assert after.promises_recovered == (1, 0)
        wait_until(lambda: not store.promised_clips(), what="the press cut from the segments")
    finally:
        after.stop()
    body = clip_body(store, press.id)
    assert "failure" not in body
    assert body["triggers"][0]["by"] == "gpio17" and body["session_id"] == str(press.session_id)
    # It ends where the recording stopped, and starts on the keyframe at or before its start.
    assert datetime.fromisoformat(body["started_at"]).timestamp() <= start + 0.001
    assert datetime.fromisoformat(body["ended_at"]).timestamp() <= segments[-1].end
    clips = store.tables.clips
    assert Path(clips.get(clips.id == press.id).path).exists()


def test_after_a_power_cut_without_recording_the_press_is_reported_with_the_reason(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "buffer.db")
    now = time.time()
    press = interrupted_press(now - 10, now + 5)
    store.promise_clip(press)
    service = CaptureService(pitch_config(tmp_path, recording=False), store, ledger=store)
    service.start()
    service.stop()
    assert service.promises_recovered == (0, 1)
    assert store.promised_clips() == []
    body = clip_body(store, press.id)
    assert body["failure"] == {"reason": "power_lost", "message": MEMORY_ONLY}
    assert body["camera_id"] == "pitch" and body["triggers"][0]["by"] == "gpio17"
    assert "power lost before the clip was complete" in MEMORY_ONLY
