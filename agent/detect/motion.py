"""A cheap motion gate: is anything moving on this camera, and where?

The frame is shrunk to a small image (160 px wide by default), blurred
against sensor noise and compared with a running-average background. A pixel
has changed when any colour channel differs by more than a threshold: the
largest channel difference, not the grey level, because a red ball on green
grass is nearly the same grey. Masked regions (a flag, trees, a road behind
the field) never count. On a Pi this costs well under a
millisecond, against tens to hundreds for an inference, so a still field is
almost free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.detect.config import MotionConfig, Polygon
from agent.detect.imaging import Resizer, blur5, bounding_box, fill_polygon

__all__ = ["MotionGate", "MotionResult", "polygon_mask"]

Region = tuple[int, int, int, int]  # x, y, w, h in source pixels


@dataclass(frozen=True, slots=True)
class MotionResult:
    moving: bool
    changed_fraction: float  # of the unmasked area
    region: Region | None  # bounding box of the changed pixels, source pixels


def polygon_mask(polygons: list[Polygon], width: int, height: int) -> npt.NDArray[np.uint8]:
    """255 where motion counts, 0 inside any of ``polygons`` (fractions of the frame)."""
    mask = np.full((height, width), 255, dtype=np.uint8)
    for polygon in polygons:
        fill_polygon(mask, [(x * width, y * height) for x, y in polygon], 0)
    return mask


class MotionGate:
    """One per camera; called from the detection thread only."""

    BACKGROUND_ALPHA = 0.1  # how fast the background absorbs lighting changes and parked objects

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        # Sensitivity 0..1 maps to a grey-level threshold 48..8: at 1 a faint shadow counts.
        self.threshold = 8.0 + (1.0 - config.sensitivity) * 40.0
        self._background: npt.NDArray[np.float32] | None = None
        self._mask: npt.NDArray[np.uint8] | None = None
        self._mask_area = 1
        self._source_size: tuple[int, int] | None = None
        self._resize = Resizer()

    def reset(self) -> None:
        self._background = None

    def check(self, image: npt.NDArray[np.uint8]) -> MotionResult:
        height, width = image.shape[:2]
        small_w = min(self.config.width, width)
        small_h = max(1, round(height * small_w / width))
        if self._source_size != (width, height):
            self._source_size = (width, height)
            self._background = None
            self._mask = polygon_mask(self.config.masks, small_w, small_h)
            self._mask_area = max(1, int(np.count_nonzero(self._mask)))
        small = blur5(self._resize(image, small_w, small_h))
        if self._background is None:
            self._background = small.astype(np.float32)
            # Nothing to compare with yet: let the detector look once.
            return MotionResult(True, 1.0, (0, 0, width, height))
        background = np.rint(self._background).astype(np.int16)
        diff = np.abs(small.astype(np.int16) - background).max(axis=2)
        assert self._mask is not None
        changed = (diff > self.threshold) & (self._mask > 0)
        # The running average: background += alpha * (frame - background).
        self._background += self.BACKGROUND_ALPHA * (small - self._background)
        count = int(np.count_nonzero(changed))
        fraction = count / self._mask_area
        moving = count > 0 and fraction >= self.config.min_area_fraction
        region: Region | None = None
        found = bounding_box(changed) if moving else None
        if found is not None:
            x, y, w, h = found
            scale = width / small_w
            region = (
                int(x * scale),
                int(y * scale),
                min(width, int(np.ceil(w * scale))),
                min(height, int(np.ceil(h * scale))),
            )
        return MotionResult(moving, fraction, region)
