"""The per-camera runner against real sources: garbage, refusals, a camera that vanishes and
returns, a file that ends. Retries are counted on a fake clock, never timed."""

from __future__ import annotations

import itertools
import logging
import random
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.capture.config import FileCameraConfig, RtspCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.base import VideoSource
from agent.capture.sources.demux import DemuxSource
from agent.capture.sources.factory import make_source
from agent.interfaces.frames import Frame
from protocol import CameraState, StreamHealth
from tests.agent.capture.rtsp import PasswordRefusingCamera
from tests.media import TestVideo, write_garbage
from tests.waiting import wait_until


def start(runner: CameraRunner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


class FakeClock:
    """Time for a runner run on the test's own thread: each wait moves it on, none sleeps.
    The runner stops once ``until`` is reached."""

    def __init__(self, runner_stop: Callable[[], None] | None = None, until: float = 60.0) -> None:
        self.now = 0.0
        self.until = until
        self.waits: list[float] = []
        self.opened_at: list[float] = []
        self.stop = runner_stop

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        if self.now >= self.until:
            if self.stop is not None:
                self.stop()
            return True
        return False


def counting(clock: FakeClock, make: Callable[[], VideoSource]) -> Callable[[], VideoSource]:
    def made() -> VideoSource:
        clock.opened_at.append(clock.now)
        return make()

    return made


def test_garbage_is_refused_then_the_camera_works_once_the_file_is_fixed(
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
        refused_retry_s=0.1,  # "slowly", made quick for the test
        rng=random.Random(1),
    )
    with caplog.at_level(logging.INFO):
        thread = start(runner)
        wait_until(lambda: runner.failures >= 3)
        health = runner.health()
        assert runner.state is CameraState.REFUSED and ring.packet_count == 0
        assert (
            health.reason is not None and "it is not a video file FFmpeg can read" in health.reason
        )
        assert health.retry_at is not None
        assert "camera yard: cannot open" in caplog.text and "Invalid data" in caplog.text
        # Said once as an error, not once per attempt.
        assert caplog.text.count("camera yard is refused until that is fixed") == 1
        shutil.copy(video.path, path)  # the file is fixed
        wait_until(lambda: runner.frames_captured > 45)
    health = runner.health()
    assert health.state is CameraState.STREAMING and health.reason is None
    assert health.reconnects >= 3 and health.gap_seconds > 0 and health.frames_dropped == 0
    assert "camera yard: video back after" in caplog.text
    runner.stop()
    thread.join(5)
    assert not thread.is_alive() and runner.health().state is CameraState.STOPPED


def test_a_transient_failure_is_retried_on_the_jittered_backoff_schedule() -> None:
    """Counted against the schedule on a fake clock: nothing depends on how busy the box is."""
    clock = FakeClock(until=60.0)
    runner = CameraRunner(
        "cam",
        counting(clock, lambda: DemuxSource("cam", "rtsp", "rtsp://127.0.0.1:9/nothing")),
        PacketRing("cam", 4),
        FrameTap("cam", 320),
        reconnect_min_s=1.0,
        reconnect_max_s=8.0,
        rng=random.Random(3),
        wait=clock.wait,
    )
    clock.stop = runner.stop
    runner.run()  # on this thread, until the fake minute is over
    expected_rng = random.Random(3)
    schedule = [
        min(8.0, 1.0 * 2**k) * expected_rng.uniform(0.5, 1.0) for k in range(len(clock.waits))
    ]
    assert clock.waits == pytest.approx(schedule)
    assert clock.waits[0] < 1.0 and max(clock.waits) <= 8.0  # doubling, capped
    assert len(clock.opened_at) == len(clock.waits) >= 9  # a minute of 1, 2, 4, 8, 8, ... s
    assert runner.state is CameraState.STOPPED and runner.failures == len(clock.opened_at)


def test_a_refused_camera_is_not_retried_in_a_tight_loop(mpeg4_video: TestVideo) -> None:
    """An MPEG-4 file with transcoding off: tried once a minute, not on the backoff."""
    camera = FileCameraConfig(id="main", path=mpeg4_video.path, transcode=False)
    clock = FakeClock(until=300.0)
    runner = CameraRunner(
        "main",
        counting(clock, lambda: make_source(camera)),
        PacketRing("main", 4),
        FrameTap("main", 320),
        reconnect_min_s=camera.reconnect_min_s,
        reconnect_max_s=camera.reconnect_max_s,
        refused_retry_s=camera.refused_retry_s,
        wait=clock.wait,
    )
    states: list[StreamHealth] = []

    def wait(seconds: float) -> bool:
        states.append(runner.stream_health())
        return clock.wait(seconds)

    runner._wait = wait  # sample the health at each wait
    clock.stop = runner.stop
    runner.run()
    in_first_minute = [t for t in clock.opened_at if t < 60.0]
    assert in_first_minute == [0.0]  # one attempt in the first minute
    assert clock.opened_at == [0.0, 60.0, 120.0, 180.0, 240.0]  # then once a minute
    assert clock.waits == [60.0] * 5
    health = states[0]
    assert health.state is CameraState.REFUSED and health.codec is None
    assert health.reason is not None
    assert "is mpeg4, not H.264, and transcoding is off for this camera" in health.reason
    assert "convert the file once: ffmpeg -i" in health.reason
    assert health.retry_at is not None


def test_wrong_rtsp_credentials_are_a_refusal_that_names_the_fix() -> None:
    camera_server = PasswordRefusingCamera().start()
    try:
        camera = RtspCameraConfig(id="gate", url=camera_server.url("admin", "wrong"))
        clock = FakeClock(until=1.0)
        runner = CameraRunner(
            "gate",
            lambda: make_source(camera),
            PacketRing("gate", 4),
            FrameTap("gate", 320),
            refused_retry_s=60.0,
            wait=clock.wait,
        )
        clock.stop = runner.stop
        runner.run()
    finally:
        camera_server.stop()
    assert clock.waits == [60.0]  # refused, not reconnecting
    reason = runner.reason or runner.last_error or ""
    assert "401 Unauthorized" in reason
    assert "the camera refuses the user name or password; correct them in the camera's url" in (
        reason
    )
    assert "wrong" not in reason  # the password is never shown
    assert len(camera_server.requests) >= 2  # FFmpeg tried the credentials, then gave up


def test_a_file_played_once_ends_and_is_not_reopened(video: TestVideo) -> None:
    ring = PacketRing("cam", 10)
    ended: list[str] = []
    runner = CameraRunner(
        "cam",
        lambda: DemuxSource("cam", "file", video.path, loop=False),
        ring,
        FrameTap("cam", 320),
        reconnect_min_s=0.01,
        reconnect_max_s=0.02,
        on_ended=ended.append,
    )
    thread = start(runner)
    wait_until(lambda: runner.state is CameraState.ENDED)
    health = runner.health()
    assert ended == ["cam"]
    assert health.frames_captured == video.frames and health.reconnects == 0
    assert health.reason is not None and "played to its end (loop = false)" in health.reason
    assert thread.is_alive() and runner.ticking(0.001)  # waits for stop; not a hung camera
    assert ring.newest_time is not None  # what was played is still in memory for clips
    runner.stop()
    thread.join(5)
    assert not thread.is_alive() and runner.health().state is CameraState.STOPPED


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
