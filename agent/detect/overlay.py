"""Overlays for the live view and the LAN preview: boxes, labels, track ids, zones.

Drawn on a *copy* of a low-resolution detection frame, on request. Recording
keeps the camera's encoded packets, which never pass through here, so nothing
is ever burned into a clip.

Drawing text needs OpenCV (PyAV's FFmpeg has no ``drawtext``), which is the
optional ``preview`` extra and is imported here only when a preview is drawn:
detection itself runs without it (docs/budget.md).
"""

from __future__ import annotations

import colorsys
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.detect.zones import Zone

__all__ = ["PreviewFrame", "TrackBox", "draw_overlay", "encode_jpeg"]


@dataclass(frozen=True, slots=True)
class TrackBox:
    """An immutable snapshot of a track, safe to hand to another thread."""

    track_id: int
    label: str
    box: tuple[float, float, float, float]  # source pixels
    score: float
    confirmed: bool


@dataclass(frozen=True, slots=True, eq=False)
class PreviewFrame:
    camera_id: str
    image: npt.NDArray[np.uint8]  # BGR, annotated copy
    captured_at: float
    index: int


def _colour(label: str) -> tuple[int, int, int]:
    """A stable, saturated BGR colour per label."""
    hue = zlib.crc32(label.encode()) % 180
    red, green, blue = colorsys.hsv_to_rgb(hue / 180, 200 / 255, 1.0)
    return round(blue * 255), round(green * 255), round(red * 255)


def _opencv() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise RuntimeError(
            "drawing a preview needs OpenCV: install the agent's 'preview' extra "
            "(pip install 'sideline[agent,preview]')"
        ) from exc
    return cv2


def draw_overlay(
    image: npt.NDArray[np.uint8], tracks: tuple[TrackBox, ...], zones: list[Zone]
) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with zones, then boxes with 'label #id score' on top."""
    cv2 = _opencv()
    canvas = image.copy()
    height, width = canvas.shape[:2]
    scale = max(0.4, width / 1280)
    for zone in zones:
        points = zone.pixel_polygon(width, height)
        shade = canvas.copy()
        cv2.fillPoly(shade, [points], (255, 255, 255))
        cv2.addWeighted(shade, 0.15, canvas, 0.85, 0, dst=canvas)
        cv2.polylines(canvas, [points], True, (255, 255, 255), 1, cv2.LINE_AA)
        x, y = points.min(axis=0)
        cv2.putText(
            canvas,
            zone.name,
            (int(x) + 3, int(y) + 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    for track in tracks:
        colour = _colour(track.label)
        x1, y1, x2, y2 = (round(v) for v in track.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2 if track.confirmed else 1)
        if not track.confirmed:
            continue
        text = f"{track.label} #{track.track_id} {track.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - th - base - 2)
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(
            canvas,
            text,
            (x1 + 2, top + th + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return canvas


def encode_jpeg(preview: PreviewFrame, quality: int = 80) -> bytes:
    cv2 = _opencv()
    ok, data = cv2.imencode(".jpg", preview.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode the preview of camera {preview.camera_id} as JPEG")
    return bytes(data)
