"""Writing one clip: stream copy into MP4 (faststart), a JPEG thumbnail, committed atomically.

No frame is re-encoded: packets go into the MP4 as they came from the camera
or encoder. ``movflags=+faststart`` moves the ``moov`` atom in front of the
media data, so a browser starts playing while the file downloads. The MP4
muxer builds the ``avcC`` box from the SPS/PPS in the first keyframe (the
normal form guarantees they are there). The thumbnail is the keyframe at or
nearest the first trigger, decoded once and scaled.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from uuid import UUID

import av

from agent.capture.clips.atomic import partial_path, publish, write_atomic, write_manifest
from agent.capture.clips.timeline import OUTPUT_TIME_BASE, TimedPacket, lay_out
from agent.capture.packets import EncodedPacket
from agent.interfaces.sinks import LocalClip
from protocol import Trigger

__all__ = [
    "ClipFileWriter",
    "ClipJob",
    "encode_jpeg",
    "mux_mp4",
    "present_from",
    "utc_from_seconds",
]

log = logging.getLogger(__name__)


def utc_from_seconds(value: float) -> datetime:
    stamp = datetime.fromtimestamp(value, UTC)
    return stamp.replace(microsecond=stamp.microsecond - stamp.microsecond % 1000)


@dataclass(frozen=True, slots=True)
class ClipJob:
    clip_id: UUID
    camera_id: str
    packets: tuple[EncodedPacket, ...]  # already selected: starts on a keyframe
    triggers: tuple[Trigger, ...]
    session_id: UUID | None
    thumbnail_at: float  # UTC seconds: the thumbnail shows the keyframe nearest this
    #: Show the clip from the first frame at or after this time (UTC seconds): the frames
    #: before it, from the keyframe on, are decoded but hidden by the MP4's edit list.
    present_from: float | None = None
    log_id: UUID | None = None
    replaces: UUID | None = None


def present_from(timed: Sequence[TimedPacket], start: float) -> list[TimedPacket]:
    """``timed`` shifted so that the first frame shown at or after ``start`` is at 0.

    Earlier frames keep negative timestamps: FFmpeg's MP4 muxer then writes an edit
    list that starts playback at 0, so players (FFmpeg, Chromium, Firefox, Safari)
    decode from the keyframe and show the range from its first frame. Nothing is
    re-encoded. A frame is taken as "at" ``start`` up to a millisecond early (the
    capture clock is kept to the millisecond).
    """
    shown = [t for t in timed if t.packet.captured_at >= start - 0.001]
    if not shown:
        return list(timed)
    origin = min(t.pts for t in shown)
    if origin <= min(t.pts for t in timed):
        return list(timed)  # the range starts on the first frame: nothing to hide
    return [TimedPacket(t.packet, t.pts - origin, t.dts - origin, t.duration) for t in timed]


def mux_mp4(path: Path, timed: Sequence[TimedPacket], *, faststart: bool = True) -> None:
    """Stream-copy ``timed`` into an MP4 at ``path``."""
    info = timed[0].packet.stream
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_mux_stream(
            "h264", width=info.width, height=info.height, time_base=OUTPUT_TIME_BASE
        )
        for item in timed:
            packet = av.Packet(item.packet.data)
            packet.pts = item.pts
            packet.dts = item.dts
            packet.duration = item.duration
            packet.time_base = OUTPUT_TIME_BASE
            packet.is_keyframe = item.packet.is_keyframe
            packet.stream = stream
            container.mux(packet)


def _sha256_and_size(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def make_thumbnail(packets: Sequence[EncodedPacket], at: float, width: int) -> bytes | None:
    """JPEG of the keyframe nearest ``at``; None (logged) if it cannot be decoded.

    A keyframe decodes on its own, so this costs one frame's decoding, not a GOP's.
    """
    keyframes = [p for p in packets if p.is_keyframe]
    if not keyframes:
        return None
    keyframe = min(keyframes, key=lambda p: abs(p.captured_at - at))
    try:
        decoder = av.CodecContext.create("h264", "r")
        assert isinstance(decoder, av.VideoCodecContext)
        decoder.thread_count = 1  # one frame: threads would only add a 1080p buffer each
        if keyframe.stream.extradata:
            decoder.extradata = keyframe.stream.extradata
        frames = list(decoder.decode(av.Packet(keyframe.data))) + list(decoder.decode(None))
        if not frames:
            return None
        return encode_jpeg(frames[0], width)
    except (av.FFmpegError, ValueError) as exc:
        log.warning("camera %s: no thumbnail (%s)", keyframe.stream.camera_id, exc)
        return None


JPEG_QSCALE = 4
"""FFmpeg's MJPEG quantiser (2 best .. 31): 4 looks like libjpeg's quality 85-90."""


def encode_jpeg(frame: av.VideoFrame, width: int) -> bytes:
    """``frame`` scaled to ``width`` (at most its own) as a JPEG, with FFmpeg's MJPEG encoder:
    PyAV is loaded anyway, and OpenCV would cost the box ~30 MiB for this one call."""
    target = min(width, frame.width) & ~1
    height = max(2, round(frame.height * target / frame.width)) & ~1
    encoder = av.CodecContext.create("mjpeg", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height = target, height
    encoder.pix_fmt = "yuvj420p"  # full-range 4:2:0, what JPEG viewers expect
    encoder.time_base = Fraction(1, 25)
    encoder.qmin = encoder.qmax = JPEG_QSCALE
    small = frame.reformat(width=target, height=height, format="yuvj420p")
    packets = [*encoder.encode(small), *encoder.encode(None)]
    data = b"".join(bytes(packet) for packet in packets)
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("the MJPEG encoder gave no JPEG")
    return data


class ClipFileWriter:
    """Writes clips under ``{directory}/{camera_id}/{clip_id}.mp4`` (+ ``.jpg``)."""

    def __init__(self, directory: Path, thumbnail_width: int) -> None:
        self.directory = directory
        self.thumbnail_width = thumbnail_width

    def paths(self, camera_id: str, clip_id: UUID) -> tuple[Path, Path, Path]:
        folder = self.directory / camera_id
        return folder / f"{clip_id}.mp4", folder / f"{clip_id}.jpg", folder / f"{clip_id}.json"

    def write(self, job: ClipJob) -> LocalClip:
        if not job.packets:
            raise ValueError(f"camera {job.camera_id}: clip {job.clip_id} has no video")
        video, thumbnail, manifest = self.paths(job.camera_id, job.clip_id)
        video.parent.mkdir(parents=True, exist_ok=True)
        timed = lay_out(job.packets)
        if job.present_from is not None:
            timed = present_from(timed, job.present_from)
        # What a player shows: the frames at or after 0 (all of them without an edit list).
        shown = [t for t in timed if t.pts >= 0]
        temp = partial_path(video)
        jpeg = make_thumbnail(job.packets, job.thumbnail_at, self.thumbnail_width)
        try:
            mux_mp4(temp, timed)
            sha256, size = _sha256_and_size(temp)
            first = min(shown, key=lambda t: t.pts)
            last = max(timed, key=lambda t: t.pts)  # the last shown (B-frames: not the last sent)
            span = max(t.pts + t.duration for t in shown) - first.pts
            clip = LocalClip(
                id=job.clip_id,
                camera_id=job.camera_id,
                path=video,
                thumbnail_path=thumbnail if jpeg is not None else None,
                started_at=utc_from_seconds(first.packet.captured_at),
                ended_at=utc_from_seconds(last.packet.captured_at),
                triggers=job.triggers,
                session_id=job.session_id,
                size_bytes=size,
                sha256=sha256,
                duration_ms=round(span * 1000 * OUTPUT_TIME_BASE),
                frame_count=len(shown),
                width=first.packet.stream.width,
                height=first.packet.stream.height,
                log_id=job.log_id,
                replaces=job.replaces,
            )
            write_manifest(manifest, clip)
            if jpeg is not None:
                write_atomic(thumbnail, jpeg)
            publish(temp, video)
        except BaseException:
            for leftover in (temp, thumbnail, manifest, video):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise
        return clip

    def handed_over(self, clip: LocalClip) -> None:
        """The store has the clip: it is no longer in flight."""
        _, _, manifest = self.paths(clip.camera_id, clip.id)
        manifest.unlink(missing_ok=True)
