"""Cameras: every source yields the same encoded packets (see ``agent.capture.packets``).

- :class:`VideoSource` (``base``) is the interface, with :class:`SourceError`,
  :class:`SourceStalled` and :class:`UnsupportedStream`;
- :class:`DemuxSource` (``demux``): files and RTSP through PyAV, never re-encoded;
- :class:`EncodingSource` (``raw``) with :class:`TestPatternProducer` or
  :class:`PyavFrameProducer`: raw frames (test pattern, V4L2) encoded by
  :class:`H264Encoder` (``encoder``); the pattern itself is ``pattern``;
- :class:`PiCameraSource` (``picamera``): picamera2's hardware encoder;
- :class:`PresentationClock` (``clock``): stream time to wall-clock time;
- :func:`make_source` / :func:`make_substream_source` (``factory``) build one from
  its config section; :func:`check_camera` (``checks``) is ``sideline agent check``'s.
"""

from agent.capture.sources.base import SourceError, SourceStalled, UnsupportedStream, VideoSource
from agent.capture.sources.checks import check_camera
from agent.capture.sources.clock import PresentationClock
from agent.capture.sources.demux import DemuxSource
from agent.capture.sources.encoder import H264Encoder
from agent.capture.sources.factory import make_source, make_substream_source
from agent.capture.sources.picamera import PiCameraSource
from agent.capture.sources.raw import EncodingSource, PyavFrameProducer, TestPatternProducer

__all__ = [
    "DemuxSource",
    "EncodingSource",
    "H264Encoder",
    "PiCameraSource",
    "PresentationClock",
    "PyavFrameProducer",
    "SourceError",
    "SourceStalled",
    "TestPatternProducer",
    "UnsupportedStream",
    "VideoSource",
    "check_camera",
    "make_source",
    "make_substream_source",
]
