"""Zones: named polygons on a camera's frame, and which boxes are inside them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.detect.config import ZoneConfig

__all__ = ["Zone", "anchor_points", "points_in_polygon"]

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


def points_in_polygon(points: FloatArray, polygon: FloatArray) -> BoolArray:
    """Even-odd rule for every point (N x 2) against one polygon (M x 2), vectorised over points."""
    inside = np.zeros(len(points), dtype=bool)
    px, py = points[:, 0], points[:, 1]
    for i in range(len(polygon)):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % len(polygon)]
        crosses = (y1 > py) != (y2 > py)
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (px < x_at)
    return inside


def anchor_points(boxes: FloatArray, anchor: str) -> FloatArray:
    """The point of each box that must be inside a zone: centre, or bottom middle (feet)."""
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    y = boxes[:, 3] if anchor == "bottom" else (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([x, y], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Zone:
    name: str
    polygon: FloatArray  # M x 2, fractions of the frame
    anchor: str

    @staticmethod
    def from_config(config: ZoneConfig) -> Zone:
        return Zone(config.name, np.array(config.polygon, dtype=np.float32), config.anchor)

    def contains(self, boxes: FloatArray, width: int, height: int) -> BoolArray:
        """Which boxes (source pixels) have their anchor point inside this zone."""
        if len(boxes) == 0:
            return np.zeros(0, dtype=bool)
        scale = np.array([width, height], dtype=np.float32)
        points = (anchor_points(boxes, self.anchor) / scale).astype(np.float32)
        return points_in_polygon(points, self.polygon)

    def pixel_polygon(self, width: int, height: int) -> npt.NDArray[np.int32]:
        scaled = np.round(self.polygon * np.array([width, height], dtype=np.float32))
        return scaled.astype(np.int32)
