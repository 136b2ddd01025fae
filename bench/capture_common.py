"""Shared set-up for the capture and clip benchmarks: generated 1080p/720p media, cached."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the checkout
    sys.path.insert(0, str(ROOT))

from agent.capture.packets import EncodedPacket  # noqa: E402
from agent.capture.sources.demux import DemuxSource  # noqa: E402
from tests.media import TestVideo, write_test_video  # noqa: E402

__all__ = ["CACHE", "looped_packets", "mbps", "media"]

CACHE = Path("/tmp/sideline-bench-media")


def media(
    width: int, height: int, seconds: float, bitrate_kbps: int, *, keyframe_interval: int = 30
) -> TestVideo:
    """A textured test video (a real camera's bitrate), made once and kept in /tmp."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"pattern-{width}x{height}-{seconds:g}s-{bitrate_kbps}k-g{keyframe_interval}.mp4"
    if path.exists():
        return TestVideo(
            path, width, height, 30, round(seconds * 30), keyframe_interval, 1_767_261_600.0
        )
    print(f"generating {path.name} ...", flush=True)
    temp = path.with_suffix(".tmp.mp4")
    video = write_test_video(
        temp,
        width=width,
        height=height,
        seconds=seconds,
        bitrate_kbps=bitrate_kbps,
        keyframe_interval=keyframe_interval,
        texture=True,
    )
    temp.rename(path)
    return TestVideo(
        path,
        video.width,
        video.height,
        video.fps,
        video.frames,
        video.keyframe_interval,
        video.start_at,
    )


def looped_packets(
    video: TestVideo, seconds: float, camera_id: str = "bench"
) -> list[EncodedPacket]:
    """``seconds`` of the video's packets, looping it, timed as if captured back to back."""
    source = DemuxSource(camera_id, "file", video.path, loop=True)
    source.open()
    out: list[EncodedPacket] = []
    for packet in source.packets():
        out.append(packet)
        if packet.captured_at - out[0].captured_at >= seconds:
            break
    source.close()
    return out


def mbps(packets: list[EncodedPacket]) -> float:
    span = packets[-1].captured_at - packets[0].captured_at
    return sum(p.size for p in packets) * 8 / span / 1e6
