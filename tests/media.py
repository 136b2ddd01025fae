"""Generated test videos with a burned-in frame counter and clock, and readers for them.

Every frame carries :mod:`agent.capture.sources.pattern`'s stamp (frame index and
capture time in UTC ms), so a test can decode any clip and say exactly which
frames it holds. Videos are encoded here with PyAV's own encode/mux path, not
with the code under test. Other test suites may use these helpers too.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from agent.capture.sources.pattern import PatternPainter, Stamp, read_stamp

__all__ = [
    "DecodedClip",
    "TestVideo",
    "decode_clip",
    "moov_before_mdat",
    "write_garbage",
    "write_test_video",
]

#: A fixed, recognisable start time for generated videos: 2026-01-01T10:00:00Z.
EPOCH = 1_767_261_600.0


@dataclass(frozen=True, slots=True)
class TestVideo:
    __test__ = False
    path: Path
    width: int
    height: int
    fps: int
    frames: int
    keyframe_interval: int  # frames
    start_at: float  # UTC seconds burned into frame 0

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def write_test_video(
    path: Path,
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 30,
    seconds: float = 4.0,
    keyframe_interval: int = 30,
    bitrate_kbps: int = 1500,
    codec: str = "libx264",
    container: str | None = None,
    bframes: int = 0,
    start_at: float = EPOCH,
    texture: bool = False,
    pix_fmt: str | None = None,
) -> TestVideo:
    """``texture`` adds a moving noise band (a quarter of the frame) so that the bitrate is
    what a real camera's footage costs rather than what flat shapes cost."""
    frames = round(seconds * fps)
    painter = PatternPainter(width, height)
    noise = np.random.default_rng(3).integers(16, 235, (height // 4, width), dtype=np.uint8)
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        # MJPEG (and RTP's JPEG payload) wants full-range 4:2:0; a UVC camera's raw frames
        # are YUYV (codec "rawvideo", pix_fmt "yuyv422").
        pix_fmt = pix_fmt or ("yuvj420p" if codec == "mjpeg" else "yuv420p")
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.gop_size = keyframe_interval
        stream.codec_context.bit_rate = bitrate_kbps * 1000
        stream.codec_context.max_b_frames = bframes
        if codec == "libx264":
            stream.options = {
                "preset": "ultrafast",
                "x264-params": f"keyint={keyframe_interval}:min-keyint={keyframe_interval}:scenecut=0:bframes={bframes}",
            }
        elif codec in ("hevc", "libx265"):
            stream.options = {
                "preset": "ultrafast",
                "x265-params": f"log-level=error:keyint={keyframe_interval}:min-keyint={keyframe_interval}:scenecut=0:bframes={bframes}",
            }
        for index in range(frames):
            image = painter.paint(index, round((start_at + index / fps) * 1000))
            if texture:
                image[height - height // 4 : height] = np.roll(noise, index * 7, axis=1)
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            if pix_fmt != "yuv420p":
                frame = frame.reformat(format=pix_fmt)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return TestVideo(path, width, height, fps, frames, keyframe_interval, start_at)


def write_garbage(path: Path, size: int = 200_000, seed: int = 7) -> Path:
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


@dataclass(frozen=True, slots=True)
class DecodedClip:
    stamps: list[Stamp | None]  # one per decoded frame, in presentation order
    frames: int
    width: int
    height: int
    duration_s: float  # from the container
    codec: str
    pix_fmt: str | None
    keyframe_first: bool
    first_time_s: float | None  # presentation time of the first frame shown

    @property
    def indices(self) -> list[int]:
        return [s.index for s in self.stamps if s is not None]


def decode_clip(path: Path) -> DecodedClip:
    """Decode every frame of ``path`` with PyAV and read its stamp."""
    stamps: list[Stamp | None] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        first_key = None
        times: list[float] = []
        for packet in container.demux(stream):
            if packet.size and first_key is None:
                first_key = bool(packet.is_keyframe)
            for frame in packet.decode():
                stamps.append(read_stamp(frame.to_ndarray(format="gray").astype(np.uint8)))
                if frame.time is not None:
                    times.append(frame.time)
        return DecodedClip(
            stamps=stamps,
            frames=len(stamps),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            duration_s=duration,
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt,
            keyframe_first=bool(first_key),
            first_time_s=min(times) if times else None,
        )


def moov_before_mdat(path: Path) -> bool:
    """True when the MP4's top-level ``moov`` box comes before ``mdat`` (faststart)."""
    order: list[bytes] = []
    with open(path, "rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                break
            size = int.from_bytes(header[:4], "big")
            kind = header[4:8]
            if size == 1:
                size = int.from_bytes(handle.read(8), "big")
                handle.seek(size - 16, 1)
            else:
                handle.seek(size - 8, 1)
            order.append(kind)
            if size < 8:
                break
    return b"moov" in order and b"mdat" in order and order.index(b"moov") < order.index(b"mdat")
