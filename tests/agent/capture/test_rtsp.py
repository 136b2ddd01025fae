"""RTSP end to end against a real RTSP server: a camera's own packets, a stall, a reconnect,
and a detection substream that spares the main stream any decoding."""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path

import pytest

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig, RtspCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.service import CaptureService
from agent.capture.sources.factory import make_source
from agent.config import AgentConfig
from agent.interfaces.frames import Frame
from agent.interfaces.triggers import ClipRequest
from protocol import CameraState
from tests.agent.capture.conftest import ListSink, trigger_at
from tests.agent.capture.rtsp import RtspPublisher, RtspServer
from tests.media import TestVideo, decode_clip, write_test_video
from tests.waiting import wait_until


def test_rtsp_camera_clip_stall_and_reconnect(
    tmp_path: Path, rtsp_server: RtspServer, video: TestVideo, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = RtspPublisher(video.path, rtsp_server.publish_url("field")).start_and_wait()
    camera = RtspCameraConfig(
        id="gate",
        url=rtsp_server.url("field"),
        transport="udp",
        stall_timeout_s=1.5,
        reconnect_min_s=0.2,
        reconnect_max_s=0.5,
    )
    ring = PacketRing("gate", 4)
    runner = CameraRunner(
        "gate",
        lambda: make_source(camera),
        ring,
        FrameTap("gate", 320),
        reconnect_min_s=camera.reconnect_min_s,
        reconnect_max_s=camera.reconnect_max_s,
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    sink = ListSink()
    writer = ClipWriter(
        ClipConfig(
            pre_seconds=1, post_seconds=1, max_pre_seconds=2, max_post_seconds=2, ring_seconds=4
        ),
        {"gate": ring},
        ClipFileWriter(tmp_path / "clips", 160),
        sink,
    )
    with caplog.at_level(logging.INFO):
        thread.start()
        try:
            wait_until(lambda: ring.span_seconds > 2.2)
            assert runner.stream is not None and runner.stream.kind == "rtsp"
            assert runner.stream.extradata  # SPS/PPS from the SDP
            moment = ring.newest_time or 0
            writer.request_clip(ClipRequest(trigger=trigger_at(moment)))
            wait_until(lambda: writer.process_ready() == 1)
            publisher.paused.set()  # the camera stops sending
            wait_until(lambda: runner.failures >= 1)
            assert runner.state is CameraState.RECONNECTING or runner.failures >= 1
            publisher.paused.clear()
            captured = runner.frames_captured
            wait_until(lambda: runner.frames_captured > captured + 30)
        finally:
            runner.stop()
            publisher.stop()
            thread.join(10)
    [clip] = sink.clips
    decoded = decode_clip(clip.path)
    indices = decoded.indices
    assert len(indices) == decoded.frames >= 55  # every frame readable: the camera's own packets
    assert all(
        b - a == 1 or b < a for a, b in itertools.pairwise(indices)
    )  # contiguous (or the loop)
    assert decoded.keyframe_first and decoded.codec == "h264"
    health = runner.health()
    assert health.reconnects >= 1 and health.gap_seconds > 0
    assert "camera gate: no video from rtsp://127.0.0.1" in caplog.text
    assert "camera gate: video back after" in caplog.text


def test_detection_reads_the_substream_and_recording_never_waits_for_it(
    tmp_path: Path, rtsp_server: RtspServer, video: TestVideo, caplog: pytest.LogCaptureFixture
) -> None:
    small = write_test_video(
        tmp_path / "sub.mp4", width=320, height=180, fps=10, keyframe_interval=10, seconds=4
    )
    main = RtspPublisher(video.path, rtsp_server.publish_url("main")).start_and_wait()
    sub = RtspPublisher(small.path, rtsp_server.publish_url("sub")).start_and_wait()
    config = AgentConfig(
        device={"org": "club", "id": "box1", "data_dir": tmp_path},
        cameras=[
            {
                "id": "gate",
                "kind": "rtsp",
                "url": rtsp_server.url("main"),
                "substream_url": rtsp_server.url("sub"),
                "transport": "udp",
                "stall_timeout_s": 1.5,
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 0.5,
            }
        ],
        clips={
            "pre_seconds": 1,
            "post_seconds": 1,
            "max_pre_seconds": 2,
            "ring_seconds": 4,
        },
    )
    service = CaptureService(config, ListSink())
    frames: list[Frame] = []
    service.add_frame_listener("gate", frames.append, fps=5)
    main_runner, sub_runner = service.runners["gate"], service.substreams["gate"]
    with caplog.at_level(logging.INFO):
        service.start()
        try:
            wait_until(lambda: len(frames) >= 5 and main_runner.frames_captured > 30)
            # Frames come from the 320x180 substream: the 640x360 main stream would give
            # 640-wide frames (detect_width is 640).
            assert {(f.width, f.height) for f in frames} == {(320, 180)}
            assert main_runner.stream is not None and main_runner.stream.width == 640
            assert sub_runner.stream is not None and sub_runner.stream.width == 320
            assert service.frames_decoded("gate") >= len(frames)

            sub.paused.set()  # the substream stops; the main stream goes on
            wait_until(lambda: sub_runner.failures >= 1)
            captured = main_runner.frames_captured
            wait_until(lambda: main_runner.frames_captured > captured + 30)
            assert main_runner.failures == 0
            sub.paused.clear()
            seen = len(frames)
            wait_until(lambda: len(frames) > seen + 3)
            [health] = service.health()  # what the heartbeat carries
        finally:
            service.stop(10)
            main.stop()
            sub.stop()
    assert {(f.width, f.height) for f in frames} == {(320, 180)}
    assert health.camera_id == "gate" and health.state is CameraState.STREAMING
    assert health.substream is not None and health.substream.reconnects >= 1
    assert health.substream.gap_seconds > 0 and health.substream.frames_captured > 0
    assert health.reconnects == 0  # the main stream never stopped
    assert (service.rings["gate"].newest_time or 0) > 0
    assert "camera gate substream: no video from rtsp://127.0.0.1" in caplog.text
    assert "camera gate substream: video back after" in caplog.text
    assert "camera gate: no video" not in caplog.text


def test_the_status_page_names_a_dead_substream_while_the_camera_records(
    tmp_path: Path, rtsp_server: RtspServer, video: TestVideo
) -> None:
    from agent.clock import SystemClock
    from agent.wiring.capture import CapturePart
    from agent.wiring.status import StatusBoard
    from tests.agent.buffer.conftest import open_store

    publisher = RtspPublisher(video.path, rtsp_server.publish_url("main")).start_and_wait()
    config = AgentConfig(
        device={"org": "org1", "id": "dev1", "data_dir": tmp_path},
        cameras=[
            {
                "id": "gate",
                "kind": "rtsp",
                "url": rtsp_server.url("main"),
                "substream_url": rtsp_server.url("nobody-publishes-here"),
                "transport": "udp",
                "open_timeout_s": 2,
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 0.5,
            }
        ],
    )
    store = open_store(tmp_path / "buffer.db")
    capture = CapturePart(config, store, lambda: None)
    board = StatusBoard(config, store, capture, None, clock=SystemClock())
    board._started -= 60  # past the start-up grace in which cameras may still be opening
    capture.start()
    try:
        sub = capture.service.substreams["gate"]
        wait_until(lambda: capture.service.runners["gate"].frames_captured > 30)
        wait_until(lambda: sub.failures >= 1)
        snapshot = board.sample()
    finally:
        capture.stop(10)
        publisher.stop()
        store.close()
    [camera] = snapshot.cameras
    assert camera["state"] == "streaming" and camera["frames_captured"] > 30
    assert camera["substream"]["state"] in {"reconnecting", "stopped"}
    assert camera["substream"]["frames_captured"] == 0
    [problem] = snapshot.problems
    assert problem.startswith(f"camera gate substream is {camera['substream']['state']}: ")
    assert "nobody-publishes-here" in problem  # why: the reason it gave
    assert problem.endswith("(detection paused, recording goes on)")
