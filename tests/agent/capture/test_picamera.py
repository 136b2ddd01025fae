"""picamera2 wiring, with a fake ``picamera2`` module (the real one needs a Pi and libcamera).

The fake follows picamera2's documented API and feeds real H.264 from libx264
(keyframe interval = the encoder's ``iperiod``) into the source's Output, as
the hardware encoder would; everything after that is the production path.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import av
import numpy as np
import pytest

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig, PiCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.base import SourceError, SourceStalled
from agent.capture.sources.pattern import PatternPainter, read_stamp
from agent.capture.sources.picamera import PiCameraSource
from agent.interfaces.frames import Frame
from agent.interfaces.triggers import ClipRequest
from tests.agent.capture.conftest import ListSink, trigger_at
from tests.media import decode_clip
from tests.waiting import wait_until


class FakeOutput:
    def __init__(self, pts: Any = None) -> None:
        self.recording = False

    def start(self) -> None:
        self.recording = True

    def stop(self) -> None:
        self.recording = False


class FakeH264Encoder:
    def __init__(
        self,
        bitrate: int | None = None,
        repeat: bool = True,
        iperiod: int | None = None,
        **extra: Any,
    ) -> None:
        self.bitrate, self.repeat, self.iperiod = bitrate, repeat, iperiod


class FakeRequest:
    def __init__(self, lores: np.ndarray) -> None:
        self._lores = lores

    def make_array(self, name: str) -> np.ndarray:
        assert name == "lores"
        return self._lores


class FakePicamera2:
    instances: ClassVar[list[FakePicamera2]] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.post_callback: Any = None
        self.configuration: dict[str, Any] = {}
        self.stalled = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.closed = False
        FakePicamera2.instances.append(self)

    def create_video_configuration(
        self, main: dict[str, Any], lores: dict[str, Any], controls: dict[str, Any]
    ) -> dict[str, Any]:
        return {"main": main, "lores": lores, "controls": controls}

    def configure(self, configuration: dict[str, Any]) -> None:
        self.configuration = configuration

    def start_recording(self, encoder: FakeH264Encoder, output: FakeOutput) -> None:
        self.encoder = encoder
        output.start()
        self._thread = threading.Thread(target=self._produce, args=(encoder, output), daemon=True)
        self._thread.start()

    def _produce(self, encoder: FakeH264Encoder, output: Any) -> None:
        width, height = self.configuration["main"]["size"]
        lores_w, lores_h = self.configuration["lores"]["size"]
        fps = self.configuration["controls"]["FrameRate"]
        context = av.CodecContext.create("libx264", "w")
        context.width, context.height, context.pix_fmt = width, height, "yuv420p"
        context.time_base = Fraction(1, 1_000_000)
        context.framerate = Fraction(fps)
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "x264-params": f"keyint={encoder.iperiod}:min-keyint={encoder.iperiod}:scenecut=0",
        }
        painter, small = PatternPainter(width, height), PatternPainter(lores_w, lores_h)
        sensor_us = 5_000_000_000  # a sensor clock that has nothing to do with UTC
        index = 0
        while not self._stop.is_set():
            if self.stalled.is_set():
                time.sleep(0.01)
                continue
            clock_ms = round(time.time() * 1000)
            frame = av.VideoFrame.from_ndarray(painter.paint(index, clock_ms), format="yuv420p")
            frame.pts = index * round(1_000_000 / fps)
            for packet in context.encode(frame):
                assert packet.pts is not None
                output.outputframe(bytes(packet), bool(packet.is_keyframe), sensor_us + packet.pts)
            if self.post_callback is not None:
                self.post_callback(FakeRequest(small.paint(index, clock_ms)))
            index += 1
            time.sleep(1 / fps)

    def stop_recording(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakePicamera2]]:
    package = types.ModuleType("picamera2")
    package.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    encoders = types.ModuleType("picamera2.encoders")
    encoders.H264Encoder = FakeH264Encoder  # type: ignore[attr-defined]
    outputs = types.ModuleType("picamera2.outputs")
    outputs.Output = FakeOutput  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", package)
    monkeypatch.setitem(sys.modules, "picamera2.encoders", encoders)
    monkeypatch.setitem(sys.modules, "picamera2.outputs", outputs)
    FakePicamera2.instances = []
    yield FakePicamera2


CAMERA = PiCameraConfig(
    id="pi",
    width=640,
    height=360,
    fps=30,
    keyframe_interval_s=0.5,
    bitrate_kbps=800,
    detect_width=320,
    stall_timeout_s=0.5,
)


def test_picamera_is_configured_as_documented(fake_picamera2: type[FakePicamera2]) -> None:
    source = PiCameraSource(CAMERA)
    info = source.open()
    [camera] = fake_picamera2.instances
    assert camera.configuration["main"] == {"size": (640, 360), "format": "YUV420"}
    assert camera.configuration["lores"] == {"size": (320, 180), "format": "YUV420"}
    assert camera.configuration["controls"] == {"FrameRate": 30}
    assert (camera.encoder.bitrate, camera.encoder.repeat, camera.encoder.iperiod) == (
        800_000,
        True,
        15,
    )
    assert (info.width, info.height, info.kind) == (640, 360, "picamera")
    source.close()
    assert camera.closed


def test_picamera_packets_lores_frames_and_a_clip(
    tmp_path: Path, fake_picamera2: type[FakePicamera2]
) -> None:
    ring = PacketRing("pi", 3)
    tap = FrameTap("pi", 320)
    frames: list[Frame] = []
    tap.add_listener(frames.append, fps=10)
    runner = CameraRunner(
        "pi", lambda: PiCameraSource(CAMERA), ring, tap, reconnect_min_s=0.05, reconnect_max_s=0.1
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    sink = ListSink()
    writer = ClipWriter(
        ClipConfig(
            pre_seconds=0.5, post_seconds=0.5, max_pre_seconds=1, max_post_seconds=1, ring_seconds=3
        ),
        {"pi": ring},
        ClipFileWriter(tmp_path, 160),
        sink,
    )
    try:
        wait_until(lambda: ring.span_seconds > 1.2)
        now = ring.newest_time or 0
        [clip_id] = writer.request_clip(ClipRequest(trigger=trigger_at(now)))
        wait_until(lambda: writer.process_ready() == 1)
        # The camera stops delivering: a stall, reported and reopened.
        fake_picamera2.instances[-1].stalled.set()
        wait_until(lambda: runner.failures >= 1)
        assert "no frame from the Pi camera for 0.5 s" in (runner.last_error or "")
        wait_until(lambda: len(fake_picamera2.instances) >= 2 and runner.frames_captured > 0)
    finally:
        runner.stop()
        thread.join(5)
    [clip] = sink.clips
    assert clip.id == clip_id
    decoded = decode_clip(clip.path)
    assert decoded.frames >= 30 and decoded.keyframe_first and decoded.width == 640
    clocks = [s.clock_ms / 1000 for s in decoded.stamps if s is not None]
    assert (
        clocks[0] <= now - 0.5 + 0.05 and clocks[-1] >= now + 0.5 - 0.05
    )  # sensor time mapped to UTC
    assert frames and all(f.image.shape == (180, 320, 3) for f in frames)
    stamp = read_stamp(frames[-1].image)
    assert stamp is not None and fake_picamera2.instances[0].closed


def test_missing_picamera2_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(
        SourceError, match=r"camera pi: picamera2 is not available .*apt install python3-picamera2"
    ):
        PiCameraSource(CAMERA).open()


def test_stall_is_its_own_error(fake_picamera2: type[FakePicamera2]) -> None:
    source = PiCameraSource(CAMERA)
    source.open()
    fake_picamera2.instances[0].stalled.set()
    with pytest.raises(SourceStalled):
        for _ in source.packets():
            pass
    source.close()
