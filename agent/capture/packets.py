"""Encoded video as capture hands it on: H.264 access units with their timing.

Every source, whatever it reads, yields :class:`EncodedPacket` objects in one
normal form, so that the ring, the clip writer and the segment recorder never
care where video came from:

* **Annex B** byte stream (start codes), never length-prefixed AVCC;
* every **keyframe carries its SPS and PPS** in-band, so any keyframe can start
  a file on its own (the MP4 muxer builds the ``avcC`` box from it);
* ``captured_at`` is the UTC wall-clock time of the frame's presentation.

A packet points at the :class:`StreamInfo` of the session it came from. A
source makes a new one each time it (re)opens or loops, so timestamps are only
compared within one stream; :meth:`StreamInfo.compatible` says whether two
streams can share one MP4 track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

__all__ = [
    "EncodedPacket",
    "ParameterSets",
    "StreamInfo",
    "avcc_to_annexb",
    "ensure_parameter_sets",
    "has_parameter_sets",
    "is_idr",
    "nal_types",
]

_START = b"\x00\x00\x00\x01"
_NAL_SPS = 7
_NAL_PPS = 8


@dataclass(frozen=True, slots=True, eq=False)
class StreamInfo:
    """One continuous run of a source: codec parameters and the time base of its packets."""

    camera_id: str
    codec: str  # always "h264" after the source's check
    width: int
    height: int
    fps: float  # nominal; packets carry their own timestamps
    time_base: Fraction
    extradata: bytes = b""  # Annex B SPS/PPS when the source knows them out of band
    kind: str = ""  # source kind (file, rtsp, test, v4l2, picamera)

    def compatible(self, other: StreamInfo) -> bool:
        """True when packets of both can follow each other in one MP4 track."""
        if self is other:
            return True
        same_shape = (self.codec, self.width, self.height) == (
            other.codec,
            other.width,
            other.height,
        )
        if not same_shape:
            return False
        if self.extradata and other.extradata:
            return self.extradata == other.extradata
        return True


@dataclass(frozen=True, slots=True, eq=False)
class EncodedPacket:
    """One H.264 access unit (one frame) in the normal form described above."""

    data: bytes
    pts: int
    dts: int
    duration: int  # in time_base units; 0 when unknown
    is_keyframe: bool
    captured_at: float  # UTC seconds since the epoch, of the presentation time
    stream: StreamInfo = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def time_base(self) -> Fraction:
        return self.stream.time_base

    @property
    def decoded_at(self) -> float:
        """UTC seconds of the frame's decode time: ``captured_at`` less its reorder delay.

        Equal to ``captured_at`` without B-frames. Decode times only grow, so once a
        packet decoded at ``t`` has arrived, no later packet presents before ``t``.
        """
        if self.pts == self.dts:
            return self.captured_at
        return self.captured_at - float((self.pts - self.dts) * self.stream.time_base)


def nal_types(data: bytes) -> list[int]:
    """NAL unit types in an Annex B buffer, in order."""
    types: list[int] = []
    index = data.find(b"\x00\x00\x01")
    while index != -1 and index + 3 < len(data):
        types.append(data[index + 3] & 0x1F)
        index = data.find(b"\x00\x00\x01", index + 3)
    return types


_NAL_SLICE, _NAL_IDR = 1, 5


def is_idr(data: bytes) -> bool:
    """Whether an Annex B access unit is an IDR picture (its first slice says).

    It stops at the first slice NAL: the units before it (AUD, SPS, PPS, SEI) are short,
    and a slice's payload is never scanned (start codes cannot occur inside a NAL unit),
    so this reads a few dozen bytes, not the frame.
    """
    index = data.find(b"\x00\x00\x01")
    while index != -1 and index + 3 < len(data):
        kind = data[index + 3] & 0x1F
        if kind == _NAL_IDR:
            return True
        if kind == _NAL_SLICE:
            return False
        index = data.find(b"\x00\x00\x01", index + 3)
    return False


def has_parameter_sets(data: bytes) -> bool:
    found = set(nal_types(data))
    return _NAL_SPS in found and _NAL_PPS in found


def ensure_parameter_sets(data: bytes, extradata: bytes) -> bytes:
    """A keyframe that lacks SPS/PPS (e.g. RTSP cameras that send them only in the SDP)
    gets the stream's out-of-band ones in front, so that it can start a file."""
    if not extradata or has_parameter_sets(data):
        return data
    return extradata + data


class ParameterSets:
    """Keeps a stream's latest SPS/PPS and puts them in front of keyframes that lack them.

    Hardware encoders and some cameras send them once (or only out of band);
    the ring needs every keyframe to be a valid start of a file.
    """

    def __init__(self, extradata: bytes = b"") -> None:
        self.current = extradata

    def normalise(self, data: bytes, is_keyframe: bool) -> bytes:
        if not is_keyframe:
            return data
        if has_parameter_sets(data):
            self.current = _parameter_set_units(data)
            return data
        return ensure_parameter_sets(data, self.current)


def _parameter_set_units(data: bytes) -> bytes:
    """The SPS and PPS NAL units of an Annex B buffer, each with a 4-byte start code."""
    out = bytearray()
    starts = []
    index = data.find(b"\x00\x00\x01")
    while index != -1:
        starts.append(index + 3)
        index = data.find(b"\x00\x00\x01", index + 3)
    for number, begin in enumerate(starts):
        end = starts[number + 1] - 3 if number + 1 < len(starts) else len(data)
        if data[begin] & 0x1F in (_NAL_SPS, _NAL_PPS):
            unit = data[begin:end].rstrip(b"\x00") if number + 1 < len(starts) else data[begin:end]
            out += _START + unit
    return bytes(out)


def avcc_to_annexb(extradata: bytes) -> bytes:
    """Convert an ``avcC`` record (MP4 extradata) to Annex B SPS/PPS; Annex B passes through."""
    if not extradata or extradata.startswith((b"\x00\x00\x01", _START)):
        return extradata
    if extradata[0] != 1 or len(extradata) < 7:
        raise ValueError("extradata is neither Annex B nor an avcC record")
    out = bytearray()
    pos = 5
    for count_mask in (0x1F, 0xFF):
        count = extradata[pos] & count_mask
        pos += 1
        for _ in range(count):
            length = int.from_bytes(extradata[pos : pos + 2], "big")
            pos += 2
            out += _START + extradata[pos : pos + length]
            pos += length
    return bytes(out)
