"""Recorded segments on disk: naming, the index, and reading packets back.

A segment is an MPEG-TS file holding one camera's stream copy from one
keyframe to the next segment's first keyframe. MPEG-TS rather than MP4:
it needs no index written at the end, so a segment cut short by a power cut
is still readable up to its last whole packet, and it is stream-copied into a
clip's MP4 like any other packet source.

Names carry the wall-clock span: ``{camera}/{start_ms}-{end_ms}.ts`` (UTC ms)
once closed, ``{camera}/.{start_ms}.ts.partial`` while being written.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from agent.capture.packets import EncodedPacket, StreamInfo, is_idr

__all__ = ["Segment", "parse_segment_name", "read_segment", "segment_name"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d+)-(\d+)\.ts$")


@dataclass(frozen=True, slots=True)
class Segment:
    camera_id: str
    path: Path
    start: float  # UTC seconds of the first frame
    end: float  # UTC seconds just after the last frame
    size: int


def segment_name(start: float, end: float) -> str:
    return f"{round(start * 1000)}-{round(end * 1000)}.ts"


def parse_segment_name(camera_id: str, path: Path) -> Segment | None:
    match = _NAME.match(path.name)
    if match is None:
        return None
    return Segment(
        camera_id=camera_id,
        path=path,
        start=int(match.group(1)) / 1000,
        end=int(match.group(2)) / 1000,
        size=path.stat().st_size,
    )


def read_segment(camera_id: str, path: Path, start: float) -> list[EncodedPacket]:
    """The packets of a segment whose first frame was captured at ``start``.

    A segment cut short (power cut) yields what is readable; a damaged tail is logged.
    """
    packets: list[EncodedPacket] = []
    with av.open(str(path)) as container:
        if not container.streams.video:
            return packets
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90_000)
        info = StreamInfo(
            camera_id=camera_id,
            codec="h264",
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=float(stream.average_rate or stream.guessed_rate or 30),
            time_base=time_base,
            kind="segment",
        )
        first_pts: int | None = None
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                data = bytes(packet)
                key = is_idr(data)
                if first_pts is None:
                    if not key:
                        continue
                    first_pts = packet.pts
                packets.append(
                    EncodedPacket(
                        data=data,
                        pts=packet.pts,
                        dts=packet.dts if packet.dts is not None else packet.pts,
                        duration=packet.duration or 0,
                        is_keyframe=key,
                        captured_at=start + float((packet.pts - first_pts) * time_base),
                        stream=info,
                    )
                )
        except av.FFmpegError as exc:
            log.warning(
                "camera %s: segment %s is damaged after %d frames: %s",
                camera_id,
                path.name,
                len(packets),
                exc,
            )
    return packets
