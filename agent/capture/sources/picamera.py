"""Raspberry Pi camera modules through picamera2: the hardware H.264 encoder, kept thin.

Written against picamera2's documented API (it exists only on a Pi, with
libcamera): ``Picamera2.create_video_configuration`` with a ``main`` stream
for recording and a ``lores`` stream for detection, ``H264Encoder`` with
``iperiod`` (keyframe interval in frames) and ``repeat=True`` (SPS/PPS on
every keyframe), and an ``Output`` subclass whose ``outputframe`` receives
each encoded frame with its keyframe flag and sensor timestamp (microseconds).
The camera's threads only put frames into a bounded queue; :meth:`packets`
reads it on the runner's thread. Low-res frames come from ``post_callback``
(``request.make_array("lores")``), only when a detection listener is due.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from agent.capture.config import PiCameraConfig
from agent.capture.packets import EncodedPacket, ParameterSets, StreamInfo
from agent.capture.sources.base import SourceError, SourceStalled, VideoSource
from agent.capture.sources.clock import PresentationClock

__all__ = ["PiCameraSource"]

log = logging.getLogger(__name__)

_MICROSECONDS = Fraction(1, 1_000_000)


@dataclass(frozen=True, slots=True)
class _Encoded:
    data: bytes
    keyframe: bool
    timestamp_us: int
    arrival: float


def _output_class(base: type[Any]) -> type[Any]:
    """An Output subclass bound to picamera2's own base class (imported only on a Pi)."""

    class QueueOutput(base):
        def __init__(self, target: queue.Queue[_Encoded], source: PiCameraSource) -> None:
            super().__init__()
            self._target = target
            self._source = source

        def outputframe(
            self,
            frame: bytes,
            keyframe: bool = True,
            timestamp: int | None = None,
            packet: object = None,
            audio: bool = False,
        ) -> None:
            if audio:
                return
            stamp = int(timestamp) if timestamp is not None else int(time.monotonic() * 1e6)
            try:
                self._target.put_nowait(_Encoded(bytes(frame), bool(keyframe), stamp, time.time()))
            except queue.Full:
                self._source.frames_lost += 1

    return QueueOutput


class PiCameraSource(VideoSource):
    kind = "picamera"
    provides_raw_frames = True

    def __init__(self, camera: PiCameraConfig, *, queue_size: int = 120) -> None:
        super().__init__(camera.id)
        self.config = camera
        self._queue: queue.Queue[_Encoded] = queue.Queue(maxsize=queue_size)
        self._camera: Any = None
        self._info: StreamInfo | None = None
        self._lores_index = 0
        self.frames_lost = 0

    def open(self) -> StreamInfo:
        c = self.config
        try:
            from picamera2 import Picamera2
            from picamera2.encoders import H264Encoder
            from picamera2.outputs import Output
        except ImportError as exc:
            raise SourceError(
                self.camera_id,
                "picamera2 is not available (on Raspberry Pi OS: apt install python3-picamera2, "
                f"and create the venv with --system-site-packages): {exc}",
            ) from exc
        lores_width = min(c.detect_width, c.width) & ~1
        lores_height = round(c.height * lores_width / c.width) & ~1
        try:
            camera = Picamera2(c.camera_num)
            configuration = camera.create_video_configuration(
                main={"size": (c.width, c.height), "format": "YUV420"},
                lores={"size": (lores_width, lores_height), "format": "YUV420"},
                controls={"FrameRate": c.fps},
            )
            camera.configure(configuration)
            encoder = H264Encoder(
                bitrate=c.bitrate_kbps * 1000,
                repeat=True,
                iperiod=max(1, round(c.fps * c.keyframe_interval_s)),
            )
            camera.post_callback = self._on_request
            self._camera = camera
            camera.start_recording(encoder, _output_class(Output)(self._queue, self))
        except Exception as exc:  # libcamera reports everything as RuntimeError or worse
            self.close()
            raise SourceError(
                self.camera_id, f"cannot start Pi camera {c.camera_num}: {exc}"
            ) from exc
        self._info = StreamInfo(
            camera_id=self.camera_id,
            codec="h264",
            width=c.width,
            height=c.height,
            fps=c.fps,
            time_base=_MICROSECONDS,
            kind=self.kind,
        )
        return self._info

    def _on_request(self, request: Any) -> None:
        """picamera2's callback thread: hand a low-res frame on, only when someone is due."""
        now = time.time()
        self._lores_index += 1
        if not self.outlet.wants_frame(now):
            return
        try:
            frame = av.VideoFrame.from_ndarray(request.make_array("lores"), format="yuv420p")
        except Exception as exc:
            log.warning("camera %s: low-res frame unreadable: %s", self.camera_id, exc)
            return
        self.outlet.put_frame(frame, now, self._lores_index - 1)

    def packets(self) -> Iterator[EncodedPacket]:
        assert self._info is not None
        clock = PresentationClock(max_drift_s=1.0, follow_arrival=True)
        parameter_sets = ParameterSets()
        started = False
        last_pts = -1
        while not self.stop_event.is_set():
            try:
                item = self._queue.get(timeout=self.config.stall_timeout_s)
            except queue.Empty:
                raise SourceStalled(
                    self.camera_id,
                    f"no frame from the Pi camera for {self.config.stall_timeout_s:g} s",
                ) from None
            if not started and not item.keyframe:
                continue
            started = True
            pts = max(item.timestamp_us, last_pts + 1)
            last_pts = pts
            yield EncodedPacket(
                data=parameter_sets.normalise(item.data, item.keyframe),
                pts=pts,
                dts=pts,
                duration=0,
                is_keyframe=item.keyframe,
                captured_at=clock.wall_time(pts / 1e6, item.arrival),
                stream=self._info,
            )

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop_recording()
        except Exception as exc:
            log.debug("camera %s: stop_recording: %s", self.camera_id, exc)
        try:
            camera.close()
        except Exception as exc:
            log.debug("camera %s: close: %s", self.camera_id, exc)
