"""CaptureService as the daemon wires it: several cameras, triggers, listeners, recovery."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.capture.service import CaptureService
from agent.config import AgentConfig
from agent.interfaces.frames import Frame
from agent.interfaces.triggers import ClipRequest, TriggerRejected
from protocol import CameraState, TriggerSource
from tests.agent.capture.conftest import ListSink, trigger_at
from tests.media import TestVideo, decode_clip, write_garbage
from tests.waiting import wait_until


def config(tmp_path: Path, video: TestVideo, broken: Path) -> AgentConfig:
    return AgentConfig(
        device={"org": "club", "id": "box1", "data_dir": tmp_path},
        cameras=[
            {
                "id": "pattern",
                "kind": "test",
                "width": 320,
                "height": 240,
                "fps": 30,
                "bitrate_kbps": 400,
                "keyframe_interval_s": 0.5,
            },
            {"id": "replay", "kind": "file", "path": str(video.path)},
            {
                "id": "broken",
                "kind": "file",
                "path": str(broken),
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 0.2,
            },
        ],
        clips={
            "pre_seconds": 1,
            "post_seconds": 0.5,
            "max_pre_seconds": 2,
            "max_post_seconds": 2,
            "ring_seconds": 3,
        },
    )


def test_service_runs_several_cameras_and_survives_a_broken_one(
    tmp_path: Path, video: TestVideo
) -> None:
    broken = write_garbage(tmp_path / "broken.mp4")
    interrupted = tmp_path / "clips" / "pattern" / ".0191.mp4.partial"
    interrupted.parent.mkdir(parents=True)
    interrupted.write_bytes(b"left by a power cut")
    sink = ListSink()
    service = CaptureService(config(tmp_path, video, broken), sink)
    frames: list[Frame] = []
    service.add_frame_listener("pattern", frames.append, fps=4)
    service.add_frame_listener("replay", frames.append, fps=4)
    with pytest.raises(KeyError, match="camera nope"):
        service.add_frame_listener("nope", frames.append, fps=4)
    service.start()
    try:
        assert not interrupted.exists() and service.recovery is not None
        with pytest.raises(RuntimeError, match="already running"):
            service.start()
        wait_until(lambda: all(service.rings[c].span_seconds > 1.2 for c in ("pattern", "replay")))
        ids = service.clip_writer.request_clip(
            ClipRequest(trigger=trigger_at(time.time(), TriggerSource.LAN, by="coach"))
        )
        assert len(ids) == 2  # the broken camera has no video; the others clip
        # Asked for by name, it says why: its state's reason.
        with pytest.raises(TriggerRejected, match=r"camera broken: cannot open .*not a video file"):
            service.clip_writer.request_clip(
                ClipRequest(trigger=trigger_at(time.time()), camera_id="broken")
            )
        wait_until(lambda: len(sink.clips) == 2)
        health = {h.camera_id: h for h in service.health()}
    finally:
        service.stop()
    assert (
        health["pattern"].state is CameraState.STREAMING and health["pattern"].frames_captured > 30
    )
    broken_health = health["broken"]
    assert broken_health.state is CameraState.REFUSED and broken_health.retry_at is not None
    assert "it is not a video file FFmpeg can read" in (broken_health.reason or "")
    assert {c.camera_id for c in sink.clips} == {"pattern", "replay"}
    for clip in sink.clips:
        decoded = decode_clip(clip.path)
        assert decoded.frames == clip.frame_count and decoded.frames >= 40
        assert (
            decoded.indices == list(range(decoded.indices[0], decoded.indices[0] + decoded.frames))
            or clip.camera_id == "replay"
        )
    assert {f.camera_id for f in frames} == {"pattern", "replay"}
    assert (
        service.frames_decoded("replay") > 0 and service.frames_decoded("pattern") == 0
    )  # raw frames need no decoding
    summaries = {s.camera_id: s for s in service.camera_summaries()}
    assert (summaries["pattern"].width, summaries["pattern"].kind) == (320, "test")
    assert all(h.state is CameraState.STOPPED for h in service.health())


def test_stop_finishes_a_clip_still_collecting_its_post_roll(
    tmp_path: Path, video: TestVideo
) -> None:
    sink = ListSink()
    service = CaptureService(config(tmp_path, video, write_garbage(tmp_path / "b.mp4")), sink)
    service.start()
    try:
        wait_until(lambda: service.rings["pattern"].span_seconds > 1.2)
        service.clip_writer.request_clip(
            ClipRequest(trigger=trigger_at(time.time()), camera_id="pattern", post_s=2)
        )
    finally:
        service.stop()
    [clip] = sink.clips  # written with what there was, not lost
    assert decode_clip(clip.path).frames == clip.frame_count
