"""Per-class non-maximum suppression and box overlap, vectorised with NumPy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["iou_matrix", "nms_per_class"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Intersection over union of every box in ``a`` (N x 4) with every box in ``b`` (M x 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0).astype(np.float32)


def nms_per_class(
    boxes: FloatArray,
    scores: FloatArray,
    class_ids: IntArray,
    iou_threshold: float,
    max_detections: int,
) -> IntArray:
    """Indices of the boxes kept, best score first; boxes of different classes never suppress.

    Each class's boxes are shifted to their own region of the plane (an offset
    larger than any coordinate), so one greedy pass serves every class at once.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.intp)
    span = float(boxes.max()) - float(min(boxes.min(), 0.0)) + 1.0
    shifted = boxes + (class_ids.astype(np.float32) * span)[:, None]
    x1, y1, x2, y2 = shifted[:, 0], shifted[:, 1], shifted[:, 2], shifted[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_detections:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)
