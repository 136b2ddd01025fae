"""Camera states that say the real reason, everywhere a person looks: the status page and the
phone's answer, the heartbeat the cloud keeps, the LED.

One box with three file cameras: ``main`` sends MPEG-4 and may not transcode it (refused),
``replay`` is an H.264 file played once (ended, its clips still work), ``yard`` is MJPEG,
transcoded (streaming, with its cost). The LED's fault pattern itself is tested in
tests/agent/triggers/test_button.py, on gpiozero's mock pins.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.buffer.store import LocalStore
from agent.clock import SystemClock
from agent.config import AgentConfig
from agent.interfaces.triggers import ClipRequest, TriggerRejected
from agent.triggers.led import LedState
from agent.wiring.capture import CapturePart
from agent.wiring.status import StatusBoard
from protocol import CameraState, Channel, Heartbeat, decode, encode
from tests.agent.buffer.conftest import open_store
from tests.agent.capture.conftest import ListSink, trigger_at
from tests.media import TestVideo, decode_clip, write_test_video
from tests.waiting import wait_until


@pytest.fixture
def box(
    tmp_path: Path, mpeg4_video: TestVideo, video: TestVideo
) -> Iterator[tuple[CapturePart, StatusBoard, LocalStore, ListSink]]:
    mjpeg = write_test_video(
        tmp_path / "yard.avi", width=320, height=180, seconds=2, codec="mjpeg", container="avi"
    )
    config = AgentConfig(
        device={"org": "club", "id": "box1", "data_dir": tmp_path},
        cameras=[
            {"id": "main", "kind": "file", "path": mpeg4_video.path, "transcode": False},
            {"id": "replay", "kind": "file", "path": video.path, "loop": False, "realtime": False},
            {"id": "yard", "kind": "file", "path": mjpeg.path, "keyframe_interval_s": 0.5},
        ],
        clips={"pre_seconds": 1, "post_seconds": 1, "max_pre_seconds": 2, "ring_seconds": 10},
    )
    store = open_store(tmp_path / "buffer.db")
    sink = ListSink()
    capture = CapturePart(config, sink, lambda: None)
    board = StatusBoard(config, store, capture, None, clock=SystemClock())
    board._started -= 60  # past the start-up grace in which cameras may still be opening
    capture.start()
    try:
        yield capture, board, store, sink
    finally:
        capture.stop(10)
        store.close()


def test_every_camera_says_what_it_is_doing_and_why(
    box: tuple[CapturePart, StatusBoard, LocalStore, ListSink],
) -> None:
    capture, board, _, _ = box
    runners = capture.service.runners
    wait_until(
        lambda: (
            runners["main"].state is CameraState.REFUSED
            and runners["replay"].state is CameraState.ENDED
            and runners["yard"].health().encode_cpu_percent is not None
        )
    )
    snapshot = board.sample()
    health = {h.camera_id: h for h in capture.service.health()}

    # The heartbeat (what the cloud keeps and its dashboard shows), through the wire format.
    heartbeat = Heartbeat(
        org="club",
        device_id="box1",
        uptime_s=1.0,
        cameras=list(health.values()),
        disk_free_bytes=1,
        disk_total_bytes=2,
        backlog={"logs": 0, "clips": 0, "events": 0, "clip_bytes": 0},
    )
    received = decode(Channel.HEARTBEAT, encode(heartbeat))
    assert isinstance(received, Heartbeat)
    sent = {c.camera_id: c for c in received.cameras}
    main = sent["main"]
    assert main.state is CameraState.REFUSED and main.retry_at is not None
    assert main.reason is not None and "is mpeg4, not H.264, and transcoding is off" in main.reason
    assert sent["replay"].state is CameraState.ENDED
    assert sent["replay"].codec == "h264" and sent["replay"].encoder is None  # kept as it is
    yard = sent["yard"]
    assert yard.state is CameraState.STREAMING and (yard.codec, yard.encoder) == (
        "mjpeg",
        "libx264",
    )
    assert yard.encode_cpu_percent is not None

    # The status page: the refusal is a problem with its fix; the rest are notes.
    [problem] = snapshot.problems
    assert problem.startswith("camera main: ") and "set transcode = true, or convert" in problem
    assert any(
        n.startswith("camera replay: the file has been played to its end") for n in snapshot.notes
    )
    assert any(
        n.startswith("camera yard is transcoded from mjpeg with libx264, about ")
        for n in snapshot.notes
    )
    board.snapshot = snapshot  # as its thread keeps it
    assert board.as_json()["notes"] == snapshot.notes and board.as_json()["ok"] is False

    # The LED: the refused camera's own pattern, above every other state.
    assert board.led_state() is LedState.FAULT


def test_a_press_says_why_a_camera_cannot_clip_and_the_others_still_do(
    box: tuple[CapturePart, StatusBoard, LocalStore, ListSink],
) -> None:
    capture, _, _, sink = box
    runners, writer = capture.service.runners, capture.service.clip_writer
    wait_until(
        lambda: (
            runners["main"].state is CameraState.REFUSED
            and runners["replay"].state is CameraState.ENDED
            and runners["yard"].frames_captured > 45
        )
    )
    newest = capture.service.rings["yard"].newest_time or 0
    with pytest.raises(TriggerRejected) as refused:
        writer.request_clip(ClipRequest(trigger=trigger_at(newest), camera_id="main"))
    # What the phone shows as the answer to its press.
    assert str(refused.value).startswith("camera main: ")
    assert "is mpeg4, not H.264, and transcoding is off for this camera" in str(refused.value)

    # The file that ended: a clip of what was played is made, at once (no post-roll wait).
    replay = capture.service.rings["replay"]
    end = replay.newest_time or 0
    [clip_id] = writer.request_clip(
        ClipRequest(trigger=trigger_at(end - 0.5), camera_id="replay", pre_s=1, post_s=2)
    )
    wait_until(lambda: any(c.id == clip_id for c in sink.clips), timeout_s=5)
    [clip] = [c for c in sink.clips if c.id == clip_id]
    indices = decode_clip(clip.path).indices
    assert indices[-1] == 239 and indices == list(range(indices[0], 240))  # to the last frame
