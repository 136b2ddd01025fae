"""Ultralytics-style YOLO outputs (v5, v8/v11) and YOLOX's raw grid outputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from agent.detect.adapters.base import (
    BoolArray,
    Candidates,
    Dim,
    OutputAdapter,
    best_class,
    cxcywh_to_xyxy,
    dims_match,
)
from agent.detect.manifest import ModelManifest

__all__ = ["YoloV5Adapter", "YoloV8Adapter", "YoloxAdapter", "grid_points"]


class YoloV5Adapter(OutputAdapter):
    """[1, N, 5 + C]: cx, cy, w, h (input pixels), objectness, class probabilities.

    The score is objectness x class probability; rows whose objectness is below
    the threshold cannot reach it, so they are dropped before the class maximum.
    """

    format = "yolov5"

    def expected(self) -> str:
        return f"one output [1, N, {5 + self.num_classes}] (cx, cy, w, h, objectness, {self.num_classes} classes)"

    def outputs_match(self, shapes: Sequence[Sequence[Dim]]) -> bool:
        return len(shapes) == 1 and dims_match(shapes[0], [1, None, 5 + self.num_classes])

    def decode(
        self,
        outputs: Sequence[npt.NDArray[np.generic]],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates:
        rows = np.asarray(outputs[0][0], dtype=np.float32)
        rows = rows[rows[:, 4] >= threshold]
        return self._score(rows, rows[:, :4], threshold, class_mask)

    def _score(
        self,
        rows: npt.NDArray[np.float32],
        cxcywh: npt.NDArray[np.float32],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates:
        if len(rows) == 0:
            return Candidates.empty()
        scores = rows[:, 5:] * rows[:, 4:5]
        keep, best, classes = best_class(scores, threshold, class_mask)
        return self.take_top(Candidates(cxcywh_to_xyxy(cxcywh[keep]), best, classes))


class YoloV8Adapter(OutputAdapter):
    """[1, 4 + C, N]: cx, cy, w, h (input pixels) then class scores, one column per anchor."""

    format = "yolov8"

    def expected(self) -> str:
        return (
            f"one output [1, {4 + self.num_classes}, N] (cx, cy, w, h, {self.num_classes} classes)"
        )

    def outputs_match(self, shapes: Sequence[Sequence[Dim]]) -> bool:
        return len(shapes) == 1 and dims_match(shapes[0], [1, 4 + self.num_classes, None])

    def decode(
        self,
        outputs: Sequence[npt.NDArray[np.generic]],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates:
        table = np.asarray(outputs[0][0], dtype=np.float32)  # (4 + C) x N
        scores = table[4:]
        if class_mask is not None and not class_mask.all():
            scores = scores[np.flatnonzero(class_mask)]
            allowed: npt.NDArray[np.intp] | None = np.flatnonzero(class_mask)
        else:
            allowed = None
        if scores.shape[0] == 0:
            return Candidates.empty()
        best = scores.max(axis=0)  # a reduction over the short axis, no transpose
        columns = np.flatnonzero(best >= threshold)
        if columns.size == 0:
            return Candidates.empty()
        classes = scores[:, columns].argmax(axis=0)
        if allowed is not None:
            classes = allowed[classes]
        boxes = cxcywh_to_xyxy(table[:4, columns].T)
        return self.take_top(Candidates(boxes, best[columns], classes.astype(np.intp)))


def grid_points(manifest: ModelManifest) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Grid cell (x, y) and stride of every anchor, strides in order, rows then columns."""
    cells: list[npt.NDArray[np.float32]] = []
    strides: list[npt.NDArray[np.float32]] = []
    for stride in manifest.strides:
        rows = -(-manifest.input.height // stride)
        cols = -(-manifest.input.width // stride)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32))
        strides.append(np.full(rows * cols, stride, dtype=np.float32))
    return np.concatenate(cells), np.concatenate(strides)


class YoloxAdapter(YoloV5Adapter):
    """YOLOX exported without decoding: [1, N, 5 + C] of grid offsets over all strides.

    Anchor i at grid cell (gx, gy) of stride s: cx = (px + gx) s, w = exp(pw) s.
    A YOLOX export made with decoding in the graph has the YOLOv5 layout: use
    format 'yolov5' for it.
    """

    format = "yolox"

    def __init__(self, manifest: ModelManifest) -> None:
        super().__init__(manifest)
        self._cells, self._strides = grid_points(manifest)

    def expected(self) -> str:
        return (
            f"one output [1, {self.manifest.grid_size()}, {5 + self.num_classes}] "
            f"(grid offsets for strides {self.manifest.strides}, objectness, {self.num_classes} classes)"
        )

    def outputs_match(self, shapes: Sequence[Sequence[Dim]]) -> bool:
        return len(shapes) == 1 and dims_match(
            shapes[0], [1, self.manifest.grid_size(), 5 + self.num_classes]
        )

    def decode(
        self,
        outputs: Sequence[npt.NDArray[np.generic]],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates:
        rows = np.asarray(outputs[0][0], dtype=np.float32)
        index = np.flatnonzero(rows[:, 4] >= threshold)
        rows = rows[index]
        stride = self._strides[index][:, None]
        cxcywh = np.empty((len(rows), 4), dtype=np.float32)
        cxcywh[:, :2] = (rows[:, :2] + self._cells[index]) * stride
        cxcywh[:, 2:] = np.exp(np.minimum(rows[:, 2:4], 20.0)) * stride
        return self._score(rows, cxcywh, threshold, class_mask)
