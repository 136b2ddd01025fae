"""CenterFace-style heat maps (faces): a centre heat map plus box size and offset maps.

Outputs at one stride (4 for CenterFace): heat [1, 1, h, w], log-sizes
[1, 2, h, w] (height, width), centre offsets [1, 2, h, w] (y, x), and
optionally landmarks [1, 10, h, w], which the detector does not use. A cell
(r, c) above the threshold gives a box of exp(size) x stride centred at
((c + offset_x + 0.5) stride, (r + offset_y + 0.5) stride). Neighbouring cells
of one face all fire, so NMS follows as for any other format.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from agent.detect.adapters.base import BoolArray, Candidates, Dim, OutputAdapter, dims_match
from agent.detect.manifest import ModelManifest

__all__ = ["CenterfaceAdapter"]


class CenterfaceAdapter(OutputAdapter):
    """A heat map, log-sizes and offsets at one stride (faces)."""

    format = "centerface"

    def __init__(self, manifest: ModelManifest) -> None:
        super().__init__(manifest)
        self.stride = manifest.strides[0]
        self._rows = -(-manifest.input.height // self.stride)
        self._cols = -(-manifest.input.width // self.stride)

    def expected(self) -> str:
        h, w = self._rows, self._cols
        return (
            f"heat [1, 1, {h}, {w}], sizes [1, 2, {h}, {w}], offsets [1, 2, {h}, {w}] "
            f"(and optionally landmarks [1, 10, {h}, {w}]) at stride {self.stride}, one class"
        )

    def outputs_match(self, shapes: Sequence[Sequence[Dim]]) -> bool:
        if len(shapes) not in (3, 4) or self.num_classes != 1:
            return False
        h, w = self._rows, self._cols
        return all(
            dims_match(shape, [1, channels, h, w])
            for shape, channels in zip(shapes, (1, 2, 2, 10), strict=False)
        )

    def decode(
        self,
        outputs: Sequence[npt.NDArray[np.generic]],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates:
        if class_mask is not None and not class_mask[0]:
            return Candidates.empty()
        heat = np.asarray(outputs[0][0, 0], dtype=np.float32)
        rows, cols = np.nonzero(heat >= threshold)
        if rows.size == 0:
            return Candidates.empty()
        sizes = np.exp(np.asarray(outputs[1][0][:, rows, cols], dtype=np.float32)) * self.stride
        offsets = np.asarray(outputs[2][0][:, rows, cols], dtype=np.float32)
        cy = (rows + offsets[0] + 0.5) * self.stride
        cx = (cols + offsets[1] + 0.5) * self.stride
        boxes = np.stack(
            [cx - sizes[1] / 2, cy - sizes[0] / 2, cx + sizes[1] / 2, cy + sizes[0] / 2], axis=1
        ).astype(np.float32)
        scores = heat[rows, cols]
        return self.take_top(Candidates(boxes, scores, np.zeros(rows.size, dtype=np.intp)))
