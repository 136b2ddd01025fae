"""The interface every camera source implements, and the errors it raises.

A source is opened, iterated for packets, and closed, all on its camera
runner's thread. It blocks while waiting for video, but never longer than its
stall timeout: then it raises :class:`SourceStalled`. Anything else that goes
wrong is a :class:`SourceError` whose message names the camera and the reason;
the runner logs it, backs off and reopens. A :class:`SourceRefused` is a
refusal that retrying cannot cure (a codec that may not be transcoded, a file
that is not there, a password the camera refuses): its reason says what to
change, the camera's state says "refused", and it is retried only slowly.

Sources that have raw frames anyway (test pattern, V4L2, picamera2's low-res
stream) hand them to the :class:`RawFrameOutlet` they were given; sources that
only have encoded packets (files, RTSP) leave decoding to the runner's
:class:`agent.capture.frametap.FrameTap`, which decodes only when someone
listens.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Protocol

import av

from agent.capture.packets import EncodedPacket, StreamInfo
from agent.errors import AgentError

__all__ = [
    "NullOutlet",
    "RawFrameOutlet",
    "SourceError",
    "SourceRefused",
    "SourceStalled",
    "UnsupportedStream",
    "VideoSource",
]


class SourceError(AgentError, RuntimeError):
    """The source cannot deliver video right now (unreachable, garbage, gone)."""

    def __init__(self, camera_id: str, reason: str) -> None:
        super().__init__(f"camera {camera_id}: {reason}")
        self.camera_id = camera_id
        self.reason = reason


class SourceStalled(SourceError):
    """No packet for longer than the stall timeout."""


class SourceRefused(SourceError):
    """Retrying will not help until something is changed (config, camera settings, a file):
    the reason says what and how."""


class UnsupportedStream(SourceRefused):
    """The source works but sends something we do not record (a codec that may not be
    transcoded, no video)."""


class RawFrameOutlet(Protocol):
    """Where raw-frame sources offer their frames for detection and preview."""

    def wants_frame(self, captured_at: float) -> bool:
        """Cheap check first, so that a source converts a frame only when it will be used."""
        ...

    def put_frame(self, frame: av.VideoFrame, captured_at: float, index: int) -> None: ...


class NullOutlet:
    """An outlet nobody listens to."""

    def wants_frame(self, captured_at: float) -> bool:
        return False

    def put_frame(self, frame: av.VideoFrame, captured_at: float, index: int) -> None:
        return None


class VideoSource(ABC):
    """One camera's video: encoded packets out, raw frames to an outlet if it has them."""

    kind: str = ""
    #: True when the source hands raw frames to its outlet itself (no decoding needed);
    #: known once it is open (a transcoded stream is decoded anyway).
    provides_raw_frames: bool = False
    #: True when the end of :meth:`packets` is final (a file played once): the camera ends.
    ends: bool = False

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.outlet: RawFrameOutlet = NullOutlet()
        self.stop_event = threading.Event()
        #: What the camera sends (h264, hevc, mjpeg, rawvideo...), once open.
        self.codec: str | None = None

    @property
    def encoder_name(self) -> str | None:
        """The H.264 encoder the box runs for this camera; None when its H.264 is kept."""
        return None

    @property
    def cpu_percent(self) -> float | None:
        """Share of one core spent decoding and encoding this camera, once measured."""
        return None

    @abstractmethod
    def open(self) -> StreamInfo:
        """Connect; raise :class:`SourceError` with a clear reason when that fails."""

    @abstractmethod
    def packets(self) -> Iterator[EncodedPacket]:
        """Yield packets in decode order until the source ends, stalls or fails.

        Ending (a file without ``loop``) returns normally; the runner reopens.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the device or connection; safe to call twice."""

    def request_stop(self) -> None:
        """Ask a blocking :meth:`packets` to return soon (called from another thread)."""
        self.stop_event.set()

    def error(self, reason: str) -> SourceError:
        return SourceError(self.camera_id, reason)
