"""Cameras: every source yields the same encoded packets (see ``agent.capture.packets``).

- :class:`VideoSource` (``base``) is the interface, with :class:`SourceError`,
  :class:`SourceStalled`, :class:`SourceRefused` and :class:`UnsupportedStream`;
- :class:`DemuxSource` (``demux``): files and RTSP through PyAV, their H.264 never
  re-encoded, another codec transcoded by :class:`Transcoder` (``transcode``), whose
  CPU cost :class:`CodecCpu` (``cpu``) measures;
- V4L2 cameras go through :class:`DemuxSource` too (PyAV's ``v4l2`` input): H.264 kept,
  MJPEG or raw YUYV transcoded;
- :class:`EncodingSource` (``raw``) with :class:`TestPatternProducer`: raw frames encoded by
  :class:`H264Encoder` (``encoder``); the pattern itself is ``pattern``;
- :class:`PiCameraSource` (``picamera``): picamera2's hardware encoder;
- :class:`PresentationClock` (``clock``): stream time to wall-clock time;
- :func:`make_source` / :func:`make_substream_source` (``factory``) build one from
  its config section; :func:`check_camera` (``checks``) is ``sideline agent check``'s.
"""

from agent.capture.sources.base import (
    SourceError,
    SourceRefused,
    SourceStalled,
    UnsupportedStream,
    VideoSource,
)
from agent.capture.sources.checks import check_camera
from agent.capture.sources.clock import PresentationClock
from agent.capture.sources.cpu import CodecCpu
from agent.capture.sources.demux import DemuxSource
from agent.capture.sources.encoder import H264Encoder
from agent.capture.sources.factory import make_source, make_substream_source
from agent.capture.sources.picamera import PiCameraSource
from agent.capture.sources.transcode import Transcoder, TranscodeSettings

_RAW = ("EncodingSource", "TestPatternProducer")


def __getattr__(name: str) -> object:
    # The raw-frame sources need numpy, which a box on IP cameras never loads otherwise.
    if name in _RAW:
        from agent.capture.sources import raw

        return getattr(raw, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CodecCpu",
    "DemuxSource",
    "EncodingSource",
    "H264Encoder",
    "PiCameraSource",
    "PresentationClock",
    "SourceError",
    "SourceRefused",
    "SourceStalled",
    "TestPatternProducer",
    "TranscodeSettings",
    "Transcoder",
    "UnsupportedStream",
    "VideoSource",
    "check_camera",
    "make_source",
    "make_substream_source",
]
