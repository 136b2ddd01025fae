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

import cv2
import numpy as np
import numpy.typing as npt

from agent.detect.config import MotionConfig, Polygon

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
        points = np.array([(x * width, y * height) for x, y in polygon], dtype=np.float32)
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 0)
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
        small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (5, 5), 0)
        if self._background is None:
            self._background = small.astype(np.float32)
            # Nothing to compare with yet: let the detector look once.
            return MotionResult(True, 1.0, (0, 0, width, height))
        diff = cv2.absdiff(small, cv2.convertScaleAbs(self._background))
        diff = np.max(diff, axis=2)
        _, changed = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        changed = cv2.bitwise_and(changed, self._mask)  # type: ignore[arg-type]
        cv2.accumulateWeighted(small, self._background, self.BACKGROUND_ALPHA)
        count = int(cv2.countNonZero(changed))
        fraction = count / self._mask_area
        moving = count > 0 and fraction >= self.config.min_area_fraction
        region: Region | None = None
        if moving:
            x, y, w, h = cv2.boundingRect(changed)
            scale = width / small_w
            region = (
                int(x * scale),
                int(y * scale),
                min(width, int(np.ceil(w * scale))),
                min(height, int(np.ceil(h * scale))),
            )
        return MotionResult(moving, fraction, region)
