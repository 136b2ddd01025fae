"""Synthetic scenes: coloured figures on a field, as frames and as real H.264 video."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from agent.interfaces.frames import Frame
from tests.agent.detect.synthetic_models import ColourClass

__all__ = [
    "BALL",
    "BIB",
    "FIELD_BGR",
    "PERSON",
    "Figure",
    "decode_video",
    "render",
    "write_video",
]

FIELD_BGR = (60, 110, 60)
BALL = ColourClass("ball", (0, 0, 230))  # red
PERSON = ColourClass("person", (230, 60, 0))  # blue
BIB = ColourClass("bib", (0, 230, 230))  # yellow


@dataclass(frozen=True)
class Figure:
    cls: ColourClass
    x: float  # top-left, source pixels
    y: float
    w: int
    h: int

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


def render(
    figures: Sequence[Figure],
    width: int = 640,
    height: int = 360,
    *,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> npt.NDArray[np.uint8]:
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = FIELD_BGR
    for figure in figures:
        x, y = round(figure.x), round(figure.y)
        cv2.rectangle(image, (x, y), (x + figure.w - 1, y + figure.h - 1), figure.cls.bgr, -1)
    if noise:
        rng = rng or np.random.default_rng(0)
        noisy = image.astype(np.int16) + rng.normal(0, noise, image.shape).astype(np.int16)
        image = np.clip(noisy, 0, 255).astype(np.uint8)
    return image


def write_video(path: Path, images: Sequence[npt.NDArray[np.uint8]], fps: int = 10) -> Path:
    """Encode BGR images as H.264 in MP4 with PyAV (libx264)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        stream.time_base = Fraction(1, fps)
        for index, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_video(
    path: Path, camera_id: str = "cam1", start: float = 1_800_000_000.0
) -> Iterator[Frame]:
    """Decode a video into Frames as capture would hand them over (captured_at from pts)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index, decoded in enumerate(container.decode(stream)):
            base = stream.time_base
            seconds = float(decoded.pts * base) if decoded.pts is not None and base else index
            yield Frame(
                camera_id=camera_id,
                image=np.ascontiguousarray(decoded.to_ndarray(format="bgr24")),
                captured_at=start + seconds,
                index=index,
            )
