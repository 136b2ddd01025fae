"""Low-resolution decoded frames: what capture hands to detection and preview.

Recording never goes through here; it keeps the encoded packets. A listener
must return quickly (hand the frame to a queue of its own, dropping older
frames if it is busy), because it runs on the capture thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # numpy is loaded by whoever makes frames: a box without detection never does
    import numpy as np
    import numpy.typing as npt

__all__ = ["Frame", "FrameListener"]


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    camera_id: str
    image: npt.NDArray[np.uint8]  # H x W x 3, BGR (OpenCV's order), C-contiguous
    captured_at: float  # UTC, seconds since the epoch (time.time() clock)
    index: int  # frame number from this camera since the agent started

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


class FrameListener(Protocol):
    def __call__(self, frame: Frame, /) -> None:
        """Take the frame; never block the capture thread."""
