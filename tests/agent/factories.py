"""Records and clip files for store and sync tests."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from uuid import UUID

from agent.interfaces.sinks import LocalClip
from protocol import (
    DetectionEvent,
    DetectionEventKind,
    LogRecord,
    LogSource,
    Trigger,
    TriggerSource,
    new_id,
    utc_now,
)

__all__ = ["make_clip", "make_event", "make_log", "make_mp4", "sha256_file"]


def make_log(payload_bytes: int = 0, **fields: object) -> LogRecord:
    data = {"note": "x" * payload_bytes} if payload_bytes else {}
    values: dict[str, object] = {
        "id": new_id(),
        "occurred_at": utc_now(),
        "source": LogSource.MARKER,
        "type": "marker",
        "data": data,
    }
    values.update(fields)
    return LogRecord.model_validate(values)


def make_event(**fields: object) -> DetectionEvent:
    values: dict[str, object] = {
        "id": new_id(),
        "camera_id": "cam1",
        "occurred_at": utc_now(),
        "kind": DetectionEventKind.ENTER,
        "label": "person",
        "score": 0.9,
    }
    values.update(fields)
    return DetectionEvent.model_validate(values)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_clip(
    directory: Path,
    *,
    size: int = 4096,
    thumbnail: bool = True,
    clip_id: UUID | None = None,
    content: Path | None = None,
    camera_id: str = "cam1",
) -> LocalClip:
    """A clip whose file is ``size`` random bytes, or a copy of ``content`` (a real MP4)."""
    clip_id = clip_id or new_id()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{clip_id}.mp4"
    path.write_bytes(content.read_bytes() if content else os.urandom(size))
    thumb = None
    if thumbnail:
        thumb = directory / f"{clip_id}.jpg"
        thumb.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(256))
    ended = utc_now()
    started = ended - timedelta(seconds=10)
    return LocalClip(
        id=clip_id,
        camera_id=camera_id,
        path=path,
        thumbnail_path=thumb,
        started_at=started,
        ended_at=ended,
        triggers=(
            Trigger(source=TriggerSource.BUTTON, at=ended - timedelta(seconds=5), by="gpio17"),
        ),
        session_id=None,
        size_bytes=path.stat().st_size,
        sha256=sha256_file(path),
        duration_ms=10_000,
        frame_count=300,
        width=64,
        height=48,
    )


def make_mp4(
    path: Path,
    *,
    frames: int = 30,
    fps: int = 10,
    width: int = 64,
    height: int = 48,
    noise: bool = False,
) -> Path:
    """A real H.264 MP4 (faststart), encoded with PyAV's libx264. ``noise``: random frames
    at lossless quality, for a large file (a few MB) that multipart uploads cut into parts."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if noise:
            stream.options = {"qp": "0", "preset": "ultrafast"}
        for index in range(frames):
            if noise:
                image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            else:
                image = np.zeros((height, width, 3), np.uint8)
                image[:, (index * 2) % width] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
