"""NanoDet-Plus: class scores and a distribution over distances per anchor (GFL head)."""

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
    dims_match,
)
from agent.detect.adapters.yolo import grid_points
from agent.detect.manifest import ModelManifest

__all__ = ["NanodetAdapter"]


class NanodetAdapter(OutputAdapter):
    """[1, N, C + 4 (reg_max + 1)] over strides (default 8, 16, 32 and 64 for NanoDet-Plus).

    Scores are already sigmoid-activated by the official export. Each side's
    distance is the expectation of a softmax over ``reg_max + 1`` bins, in units
    of the stride, measured from the anchor point (gx s, gy s).
    """

    format = "nanodet"

    def __init__(self, manifest: ModelManifest) -> None:
        super().__init__(manifest)
        cells, strides = grid_points(manifest)
        self._points = cells * strides[:, None]
        self._strides = strides
        self._bins = np.arange(manifest.reg_max + 1, dtype=np.float32)

    def _width(self) -> int:
        return self.num_classes + 4 * (self.manifest.reg_max + 1)

    def expected(self) -> str:
        return (
            f"one output [1, {self.manifest.grid_size()}, {self._width()}] "
            f"({self.num_classes} class scores, then 4 x {self.manifest.reg_max + 1} distance bins; "
            f"strides {self.manifest.strides})"
        )

    def outputs_match(self, shapes: Sequence[Sequence[Dim]]) -> bool:
        return len(shapes) == 1 and dims_match(
            shapes[0], [1, self.manifest.grid_size(), self._width()]
        )

    def decode(
        self,
        outputs: Sequence[npt.NDArray[np.generic]],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates:
        rows = np.asarray(outputs[0][0], dtype=np.float32)
        index, scores, classes = best_class(rows[:, : self.num_classes], threshold, class_mask)
        if index.size == 0:
            return Candidates.empty()
        bins = rows[index, self.num_classes :].reshape(len(index), 4, -1)
        bins = np.exp(bins - bins.max(axis=2, keepdims=True))
        distances = (bins @ self._bins) / bins.sum(axis=2)  # K x 4: left, top, right, bottom
        distances *= self._strides[index][:, None]
        points = self._points[index]
        boxes = np.concatenate([points - distances[:, :2], points + distances[:, 2:]], axis=1)
        return self.take_top(Candidates(boxes.astype(np.float32), scores, classes))
