"""The few image operations detection needs, with PyAV's swscale and NumPy.

These replaced OpenCV on the detection path (resize, blur, polygon masks):
OpenCV's wheel brings a second FFmpeg and its own OpenBLAS, ~30 MiB of the
box's memory for what swscale (already loaded for decoding) and a few NumPy
lines do at these sizes (measured in docs/budget.md). Images are H x W x 3
uint8 BGR, as :class:`agent.interfaces.frames.Frame` carries them.
"""

from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np
import numpy.typing as npt
from av.video.reformatter import Interpolation, VideoReformatter

__all__ = ["Resizer", "blur5", "bounding_box", "fill_polygon"]

UInt8Image = npt.NDArray[np.uint8]


class Resizer:
    """Scales BGR images with swscale; keeps its scaler between calls (one per user)."""

    def __init__(self) -> None:
        self._reformatter = VideoReformatter()

    def __call__(self, image: UInt8Image, width: int, height: int) -> UInt8Image:
        """``image`` at ``width`` x ``height``: area averaging when shrinking (small objects are
        not aliased away), bilinear when growing."""
        src_h, src_w = image.shape[:2]
        if (src_w, src_h) == (width, height):
            return image
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        shrink = width * height < src_w * src_h
        scaled = self._reformatter.reformat(
            frame,
            width=width,
            height=height,
            format="bgr24",
            interpolation=Interpolation.AREA if shrink else Interpolation.BILINEAR,
        )
        return np.ascontiguousarray(scaled.to_ndarray())


_BINOMIAL = (1, 4, 6, 4, 1)  # the 5-tap Gaussian (sigma ~1.1), weights summing to 16


def blur5(image: UInt8Image) -> UInt8Image:
    """A separable 5x5 Gaussian blur, edges mirrored (without repeating the edge pixel)."""
    if image.shape[0] < 3 or image.shape[1] < 3:
        return image.copy()
    pad = [(2, 2), (2, 2)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image.astype(np.uint16), pad, mode="reflect")
    height, width = image.shape[:2]
    rows = np.zeros(padded[:height].shape, dtype=np.uint16)
    for i, weight in enumerate(_BINOMIAL):
        rows += weight * padded[i : i + height]
    out = np.zeros(image.shape, dtype=np.uint16)
    for i, weight in enumerate(_BINOMIAL):
        out += weight * rows[:, i : i + width]
    return ((out + 128) >> 8).astype(np.uint8)  # / 256 with rounding


def fill_polygon(
    mask: npt.NDArray[np.uint8], points: Sequence[tuple[float, float]], value: int
) -> None:
    """Set the pixels of ``mask`` whose centres lie inside the polygon (pixel units; the
    even-odd rule, so a self-crossing polygon's overlap is outside) to ``value``."""
    if len(points) < 3:
        return
    height, width = mask.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    px, py = xs + 0.5, ys + 0.5
    inside = np.zeros((height, width), dtype=bool)
    vertices = [(float(x), float(y)) for x, y in points]
    for (x1, y1), (x2, y2) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        if y1 == y2:
            continue  # a horizontal edge never crosses a horizontal ray
        crosses = (y1 > py) != (y2 > py)
        x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (px < x_at)
    mask[inside] = value


def bounding_box(binary: npt.NDArray[np.bool_]) -> tuple[int, int, int, int] | None:
    """x, y, w, h of the True pixels; None when there are none."""
    rows = np.flatnonzero(binary.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(binary.any(axis=0))
    y, x = int(rows[0]), int(cols[0])
    return x, y, int(cols[-1]) - x + 1, int(rows[-1]) - y + 1
