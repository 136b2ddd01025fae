"""From a BGR frame to the model's input tensor, and from model pixels back to the frame.

All buffers are allocated once per model and reused, so a frame costs one
resize (swscale, area averaging when shrinking) and one multiply per channel. The letterbox keeps the aspect ratio and pads
with the model's pad value; :class:`Letterbox` remembers the scale and offset
so boxes map back onto the source frame exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from agent.detect.imaging import Resizer
from agent.detect.manifest import InputSpec

__all__ = ["Letterbox", "Preprocessor"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a (cropped) source region was placed into the model's input."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    offset_x: float  # where the crop starts in the source frame
    offset_y: float

    def to_source(self, boxes: FloatArray, width: int, height: int) -> FloatArray:
        """Map x1, y1, x2, y2 boxes in input pixels to source-frame pixels (in place)."""
        boxes[:, [0, 2]] -= self.pad_x
        boxes[:, [1, 3]] -= self.pad_y
        boxes[:, [0, 2]] /= self.scale_x
        boxes[:, [1, 3]] /= self.scale_y
        boxes[:, [0, 2]] += self.offset_x
        boxes[:, [1, 3]] += self.offset_y
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return boxes


class Preprocessor:
    """Turns frames into one model's input tensor; not thread-safe (one per detector)."""

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self._canvas = np.full((spec.height, spec.width, 3), spec.pad_value, dtype=np.uint8)
        self._placed: tuple[int, int, int, int] | None = None  # x, y, w, h of the last image
        self._resize = Resizer()
        # BGR plane feeding each model channel.
        self._order = (2, 1, 0) if spec.colour == "RGB" else (0, 1, 2)
        self._mean = np.array(spec.mean, dtype=np.float32)
        self._inv_std = (1.0 / np.array(spec.std, dtype=np.float32)).astype(np.float32)
        self._identity = bool(np.all(self._mean == 0) and np.all(self._inv_std == 1))
        self._tensor: npt.NDArray[np.float32] | npt.NDArray[np.uint8]
        if spec.dtype == "uint8":
            shape = (1, spec.height, spec.width, 3)
            self._tensor = np.empty(
                shape if spec.layout == "NHWC" else (1, 3, *shape[1:3]), np.uint8
            )
        elif spec.layout == "NCHW":
            self._tensor = np.empty((1, 3, spec.height, spec.width), dtype=np.float32)
        else:
            self._tensor = np.empty((1, spec.height, spec.width, 3), dtype=np.float32)

    def __call__(
        self, image: npt.NDArray[np.uint8], roi: tuple[int, int, int, int] | None = None
    ) -> tuple[npt.NDArray[np.float32] | npt.NDArray[np.uint8], Letterbox]:
        """The input tensor (a reused buffer) for ``image``, or for its ``roi`` (x, y, w, h)."""
        offset_x = offset_y = 0
        if roi is not None:
            offset_x, offset_y, w, h = roi
            image = image[offset_y : offset_y + h, offset_x : offset_x + w]
        letterbox = replace(self._place(image), offset_x=offset_x, offset_y=offset_y)
        return self._fill_tensor(), letterbox

    def _place(self, image: npt.NDArray[np.uint8]) -> Letterbox:
        spec = self.spec
        src_h, src_w = image.shape[:2]
        if not spec.letterbox:
            self._canvas[:] = self._resize(image, spec.width, spec.height)
            return Letterbox(spec.width / src_w, spec.height / src_h, 0.0, 0.0, 0, 0)
        scale = min(spec.width / src_w, spec.height / src_h)
        new_w = max(1, min(spec.width, round(src_w * scale)))
        new_h = max(1, min(spec.height, round(src_h * scale)))
        x = (spec.width - new_w) // 2
        y = (spec.height - new_h) // 2
        if self._placed != (x, y, new_w, new_h):
            self._canvas[:] = spec.pad_value  # the padding moved: clear the old picture
            self._placed = (x, y, new_w, new_h)
        self._canvas[y : y + new_h, x : x + new_w] = self._resize(image, new_w, new_h)
        return Letterbox(new_w / src_w, new_h / src_h, float(x), float(y), 0, 0)

    def _fill_tensor(self) -> npt.NDArray[np.float32] | npt.NDArray[np.uint8]:
        canvas, tensor = self._canvas, self._tensor
        if self.spec.layout == "NHWC":
            rgb = canvas[:, :, ::-1] if self._order == (2, 1, 0) else canvas
            if tensor.dtype == np.uint8:
                tensor[0] = rgb
            else:
                np.subtract(rgb, self._mean, out=tensor[0], casting="unsafe")
                np.multiply(tensor[0], self._inv_std, out=tensor[0])
            return tensor
        for channel, plane in enumerate(self._order):
            target, source = tensor[0, channel], canvas[:, :, plane]
            if tensor.dtype == np.uint8 or self._identity:
                np.copyto(target, source, casting="unsafe")
            elif self._mean[channel] == 0:
                np.multiply(source, self._inv_std[channel], out=target, casting="unsafe")
            else:
                np.subtract(source, self._mean[channel], out=target, casting="unsafe")
                np.multiply(target, self._inv_std[channel], out=target)
        return tensor
