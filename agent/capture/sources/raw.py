"""Sources that give raw frames and so encode on the box: the test pattern.

A :class:`FrameProducer` yields raw frames with their capture time;
:class:`EncodingSource` offers each to the frame outlet (detection) when it is
wanted and encodes every one with :class:`agent.capture.sources.encoder.H264Encoder`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av

from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.sources.base import VideoSource
from agent.capture.sources.cpu import CodecCpu, CpuRate
from agent.capture.sources.encoder import EncoderSettings, H264Encoder
from agent.capture.sources.pattern import PatternPainter

__all__ = [
    "EncodingSource",
    "FrameProducer",
    "RawFrame",
    "TestPatternProducer",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawFrame:
    frame: av.VideoFrame
    captured_at: float  # UTC seconds


class FrameProducer(ABC):
    """Raw frames from somewhere; a fresh producer per open."""

    #: What the device delivers before decoding (rawvideo, mjpeg...), known once open.
    codec: str | None = "rawvideo"

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def frames(self) -> Iterator[RawFrame]: ...

    @abstractmethod
    def close(self) -> None: ...


class TestPatternProducer(FrameProducer):
    """Moving shapes with a burned-in frame counter and clock (see :mod:`agent.capture.sources.pattern`).

    In real time it paces frames to the wall clock. Like a camera driver's queue
    it absorbs a short hiccup (frames come late, with their due timestamps); when
    the consumer falls more than ``max_lag_s`` behind it skips frames rather than
    drifting (the runner counts them as dropped).
    Otherwise it produces frames as fast as they are taken, with capture times
    spaced exactly 1/fps apart: what tests and benchmarks use.
    """

    __test__ = False

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        *,
        figures: int = 3,
        realtime: bool = True,
        stop: Callable[[], bool] | None = None,
        start_at: float | None = None,
        max_lag_s: float = 0.5,
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.realtime = realtime
        self._painter = PatternPainter(width, height, figures)
        self._stop = stop or (lambda: False)
        self._start_at = start_at
        self._max_lag_s = max_lag_s
        self.index = 0

    def open(self) -> None:
        return None

    def frames(self) -> Iterator[RawFrame]:
        origin = self._start_at if self._start_at is not None else time.time()
        first = self.index
        while not self._stop():
            due = origin + (self.index - first) / self.fps
            if self.realtime:
                now = time.time()
                if due > now:
                    time.sleep(min(due - now, 0.1))
                    continue
                if now - due > self._max_lag_s:  # skip what we could not make in time
                    self.index += int((now - due) * self.fps)
                    due = origin + (self.index - first) / self.fps
            image = self._painter.paint(self.index, round(due * 1000))
            yield RawFrame(av.VideoFrame.from_ndarray(image, format="yuv420p"), due)
            self.index += 1

    def close(self) -> None:
        return None


class EncodingSource(VideoSource):
    provides_raw_frames = True

    def __init__(
        self, camera_id: str, kind: str, producer: FrameProducer, settings: EncoderSettings
    ) -> None:
        super().__init__(camera_id)
        self.kind = kind
        self._producer = producer
        self._settings = settings
        self._encoder: H264Encoder | None = None
        self._rate: CpuRate | None = None
        self._index = 0
        self._first_at: float | None = None

    @property
    def encoder_name(self) -> str | None:
        return self._encoder.name if self._encoder else None

    @property
    def cpu_percent(self) -> float | None:
        return self._rate.percent if self._rate is not None else None

    def open(self) -> StreamInfo:
        meter = CodecCpu()
        with meter.opening():
            self._producer.open()
            try:
                self._encoder = H264Encoder(self.camera_id, self.kind, self._settings)
            except (av.FFmpegError, ValueError) as exc:
                raise self.error(f"cannot set up the H.264 encoder: {exc}") from exc
        self._rate = CpuRate(meter)
        self.codec = self._producer.codec
        log.info("camera %s: encoding with %s", self.camera_id, self._encoder.name)
        return self._encoder.stream

    def packets(self) -> Iterator[EncodedPacket]:
        assert self._encoder is not None
        for raw in self._producer.frames():
            if self.stop_event.is_set():
                return
            if self.outlet.wants_frame(raw.captured_at):
                self.outlet.put_frame(raw.frame, raw.captured_at, self._index)
            self._index += 1
            try:
                yield from self._encoder.encode(raw.frame, raw.captured_at)
            except av.FFmpegError as exc:
                raise self.error(f"encoder failed: {exc}") from exc
            if self._rate is not None:
                if self._first_at is None:
                    self._first_at = raw.captured_at
                self._rate.update(raw.captured_at - self._first_at)

    def close(self) -> None:
        self._producer.close()
        self._encoder = None
