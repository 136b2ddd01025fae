"""SSD-style outputs (separate boxes and scores) and models with NMS inside the graph."""

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

__all__ = ["NmsAdapter", "SsdAdapter", "to_input_xyxy"]


def to_input_xyxy(
    boxes: npt.NDArray[np.float32], manifest: ModelManifest
) -> npt.NDArray[np.float32]:
    """Boxes as the manifest describes them to x1, y1, x2, y2 in input pixels."""
    order = manifest.boxes.order
    if order == "yxyx":
        boxes = boxes[:, [1, 0, 3, 2]]
    elif order == "cxcywh":
        boxes = cxcywh_to_xyxy(boxes)
    else:
        boxes = boxes.astype(np.float32, copy=True)
    if manifest.boxes.normalized:
        boxes[:, [0, 2]] *= manifest.input.width
        boxes[:, [1, 3]] *= manifest.input.height
    return boxes


class SsdAdapter(OutputAdapter):
    """Two outputs: boxes [1, N, 4] and scores [1, N, C], or C + 1 with background first."""

    format = "ssd"

    def __init__(self, manifest: ModelManifest) -> None:
        super().__init__(manifest)
        self._score_columns = self.num_classes + (1 if manifest.background_class else 0)

    def expected(self) -> str:
        return (
            f"two outputs: boxes [1, N, 4] ({self.manifest.boxes.order}) and scores "
            f"[1, N, {self._score_columns}]"
        )

    def outputs_match(self, shapes: Sequence[Sequence[Dim]]) -> bool:
        return len(shapes) == 2 and (
            dims_match(shapes[0], [1, None, 4])
            and dims_match(shapes[1], [1, None, self._score_columns])
        )

    def decode(
        self,
        outputs: Sequence[npt.NDArray[np.generic]],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates:
        boxes = np.asarray(outputs[0][0], dtype=np.float32)
        scores = np.asarray(outputs[1][0], dtype=np.float32)
        if self.manifest.background_class:
            scores = scores[:, 1:]
        rows, best, classes = best_class(scores, threshold, class_mask)
        if rows.size == 0:
            return Candidates.empty()
        return self.take_top(Candidates(to_input_xyxy(boxes[rows], self.manifest), best, classes))


class NmsAdapter(OutputAdapter):
    """NMS done by the model. Two layouts are understood:

    - one output [1, K, 6]: x1, y1, x2, y2, score, class (Ultralytics ``nms=True``,
      YOLOv10 end-to-end);
    - four outputs: count [1, 1], boxes [1, K, 4], scores [1, K], classes [1, K]
      (TensorRT's EfficientNMS layout).
    """

    format = "nms"

    def expected(self) -> str:
        return "one output [1, K, 6] (x1, y1, x2, y2, score, class) or four outputs: count [1, 1], boxes [1, K, 4], scores [1, K], classes [1, K]"

    def outputs_match(self, shapes: Sequence[Sequence[Dim]]) -> bool:
        if len(shapes) == 1:
            return dims_match(shapes[0], [1, None, 6])
        return len(shapes) == 4 and (
            dims_match(shapes[0], [1, 1])
            and dims_match(shapes[1], [1, None, 4])
            and dims_match(shapes[2], [1, None])
            and dims_match(shapes[3], [1, None])
        )

    def decode(
        self,
        outputs: Sequence[npt.NDArray[np.generic]],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates:
        if len(outputs) == 1:
            table = np.asarray(outputs[0][0], dtype=np.float32)
            boxes, scores, classes = table[:, :4], table[:, 4], table[:, 5]
        else:
            count = int(np.asarray(outputs[0]).ravel()[0])
            boxes = np.asarray(outputs[1][0][:count], dtype=np.float32)
            scores = np.asarray(outputs[2][0][:count], dtype=np.float32)
            classes = np.asarray(outputs[3][0][:count])
        class_ids = np.rint(classes).astype(np.intp)
        keep = (scores >= threshold) & (class_ids >= 0) & (class_ids < self.num_classes)
        if class_mask is not None:
            keep &= class_mask[np.clip(class_ids, 0, self.num_classes - 1)]
        return Candidates(
            to_input_xyxy(boxes[keep], self.manifest),
            scores[keep].astype(np.float32),
            class_ids[keep],
            suppressed=True,
        )
