"""Continuous recording: :class:`SegmentRecorder` (``recorder``) writes short stream-copied
segments within a disk quota; ``segments`` names, indexes and reads them back
(for a clip of a range after the fact)."""

from agent.capture.recording.recorder import SegmentRecorder
from agent.capture.recording.segments import Segment, read_segment

__all__ = ["Segment", "SegmentRecorder", "read_segment"]
