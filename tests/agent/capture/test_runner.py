"""The per-camera runner against real sources: garbage, a camera that vanishes and returns."""

from __future__ import annotations

import itertools
import logging
import random
import shutil
import threading
import time
from pathlib import Path

import pytest

from agent.capture.frametap import FrameTap
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.demux import DemuxSource
from agent.interfaces.frames import Frame
from protocol import CameraState
from tests.media import TestVideo, write_garbage
from tests.waiting import wait_until


def start(runner: CameraRunner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


def test_garbage_then_a_working_camera(
    tmp_path: Path, video: TestVideo, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_garbage(tmp_path / "cam.mp4")
    ring = PacketRing("yard", 4)
    runner = CameraRunner(
        "yard",
        lambda: DemuxSource("yard", "file", path, realtime=True, loop=True),
        ring,
        FrameTap("yard", 320),
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        rng=random.Random(1),
    )
    with caplog.at_level(logging.INFO):
        thread = start(runner)
        wait_until(lambda: runner.failures >= 3)
        assert runner.state is CameraState.RECONNECTING
        assert ring.packet_count == 0
        assert "camera yard: cannot open" in caplog.text and "Invalid data" in caplog.text
        shutil.copy(video.path, path)  # the camera comes back
        wait_until(lambda: runner.frames_captured > 45)
    health = runner.health()
    assert health.state is CameraState.STREAMING
    assert health.reconnects >= 3 and health.gap_seconds > 0 and health.frames_dropped == 0
    assert "camera yard: video back after" in caplog.text
    runner.stop()
    thread.join(5)
    assert not thread.is_alive() and runner.health().state is CameraState.STOPPED


def test_backoff_grows_and_is_jittered(tmp_path: Path) -> None:
    opened: list[float] = []

    def make() -> DemuxSource:
        opened.append(time.monotonic())
        return DemuxSource("cam", "file", tmp_path / "missing.mp4")

    runner = CameraRunner(
        "cam",
        make,
        PacketRing("cam", 4),
        FrameTap("cam", 320),
        reconnect_min_s=0.05,
        reconnect_max_s=0.4,
        rng=random.Random(3),
    )
    thread = start(runner)
    wait_until(lambda: len(opened) >= 6)
    runner.stop()
    thread.join(5)
    waits = [b - a for a, b in itertools.pairwise(opened)]
    assert waits[0] < 0.2 and max(waits[3:5]) >= 0.2  # doubled up towards the cap
    assert all(w < 0.4 + 0.2 for w in waits)  # never beyond the cap (plus scheduling)


def test_file_without_loop_is_reopened_when_it_ends(video: TestVideo) -> None:
    ring = PacketRing("cam", 4)
    runner = CameraRunner(
        "cam",
        lambda: DemuxSource("cam", "file", video.path),
        ring,
        FrameTap("cam", 320),
        reconnect_min_s=0.01,
        reconnect_max_s=0.02,
    )
    thread = start(runner)
    wait_until(lambda: runner.frames_captured > video.frames * 2)
    runner.stop()
    thread.join(5)
    assert runner.reconnects >= 2


def test_encoded_source_decodes_only_for_listeners_at_their_rate(video: TestVideo) -> None:
    tap = FrameTap("cam", 320)
    frames: list[Frame] = []
    runner = CameraRunner(
        "cam",
        lambda: DemuxSource("cam", "file", video.path, realtime=True, loop=True),
        PacketRing("cam", 4),
        tap,
    )
    decoder = threading.Thread(target=tap.run, daemon=True)
    decoder.start()
    thread = start(runner)
    wait_until(lambda: runner.frames_captured > 20)
    assert tap.frames_decoded == 0  # nobody listens: nothing decoded
    tap.add_listener(frames.append, fps=5)
    wait_until(lambda: len(frames) >= 8)
    runner.stop()
    tap.stop()
    thread.join(5)
    decoder.join(5)
    assert tap.frames_decoded > 0
    assert all(f.image.shape == (180, 320, 3) and f.camera_id == "cam" for f in frames)
    gaps = [b.captured_at - a.captured_at for a, b in itertools.pairwise(frames)]
    # 5 fps on average; a single gap can be one source frame shorter (the cadence is kept).
    assert all(g >= 0.2 - 1 / 30 - 1e-6 for g in gaps)
    assert (frames[-1].captured_at - frames[0].captured_at) / (len(frames) - 1) >= 0.2 - 1e-6
    indices = [f.index for f in frames]
    assert indices == sorted(indices)
