"""The generated test pattern: moving shapes plus a machine-readable stamp.

Every frame carries two rows of black/white blocks along its top edge: the
frame counter (32 bits) and the capture clock in UTC milliseconds (48 bits),
each followed by a CRC-8. Blocks are large (1/64 of the width) and pure black
or white on neutral chroma, so the code survives H.264 at ordinary bitrates
and scaling (a thumbnail is still readable). :func:`read_stamp` is how tests,
benchmarks and an installer checking a box find out which frame is where.

Frames are drawn straight into planar YUV 4:2:0, the encoder's input format,
so that a 720p30 pattern costs well under a millisecond a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["PatternPainter", "Stamp", "block_size", "crc8", "read_stamp"]

_INDEX_BITS = 32
_CLOCK_BITS = 48
_CRC_BITS = 8
_WHITE = 235
_BLACK = 16
_GREY = 128


def crc8(value: int, bits: int) -> int:
    """CRC-8 (polynomial 0x07, initial value 0xFF so that an all-black or all-white
    block row never checks out) over ``bits`` bits of ``value``, most significant first."""
    crc = 0xFF
    for shift in range(bits - 1, -1, -1):
        bit = (value >> shift) & 1
        top = (crc >> 7) & 1
        crc = (crc << 1) & 0xFF
        if top ^ bit:
            crc ^= 0x07
    return crc


def block_size(width: float) -> float:
    """Side of one code block in pixels for a frame this wide (fractional when scaled)."""
    return width / 64.0


@dataclass(frozen=True, slots=True)
class Stamp:
    index: int  # frame counter since the pattern started
    clock_ms: int  # capture time, UTC milliseconds since the epoch


def _bits(value: int, bits: int) -> list[int]:
    return [(value >> shift) & 1 for shift in range(bits - 1, -1, -1)]


class PatternPainter:
    """Draws pattern frames of one size; keeps the static background between frames."""

    def __init__(self, width: int, height: int, figures: int = 3) -> None:
        if width < 128 or height < 96 or width % 2 or height % 2:
            raise ValueError(
                f"test pattern needs an even size of at least 128x96, got {width}x{height}"
            )
        self.width = width
        self.height = height
        self.figures = figures
        self._block = block_size(width)
        self._background = self._make_background()

    def _make_background(self) -> npt.NDArray[np.uint8]:
        w, h = self.width, self.height
        yuv = np.empty((h * 3 // 2, w), dtype=np.uint8)
        # A soft vertical gradient keeps the encoder honest without costing bits.
        yuv[:h] = np.linspace(60, 110, h, dtype=np.float32).astype(np.uint8)[:, None]
        yuv[h:] = _GREY
        yuv[: self._band_height(), :] = _GREY  # the band the code lives in
        return yuv

    def _band_height(self) -> int:
        return round(self._block * 4)

    def paint(self, index: int, clock_ms: int) -> npt.NDArray[np.uint8]:
        """One frame as a (H*3/2, W) yuv420p array, PyAV's ``yuv420p`` ndarray layout."""
        yuv = self._background.copy()
        self._paint_figures(yuv, index)
        self._paint_row(
            yuv,
            0,
            _bits(index & 0xFFFFFFFF, _INDEX_BITS)
            + _bits(crc8(index & 0xFFFFFFFF, _INDEX_BITS), _CRC_BITS),
        )
        clock = clock_ms & ((1 << _CLOCK_BITS) - 1)
        self._paint_row(
            yuv, 1, _bits(clock, _CLOCK_BITS) + _bits(crc8(clock, _CLOCK_BITS), _CRC_BITS)
        )
        return yuv

    def _paint_row(self, yuv: npt.NDArray[np.uint8], row: int, bits: list[int]) -> None:
        b = self._block
        top = round(_row_top(b, row))
        bottom = round(_row_top(b, row) + b)
        for column, bit in enumerate(bits):
            yuv[top:bottom, round(column * b) : round((column + 1) * b)] = _WHITE if bit else _BLACK

    def _paint_figures(self, yuv: npt.NDArray[np.uint8], index: int) -> None:
        w, h = self.width, self.height
        top_limit = self._band_height()
        size = max(16, h // 8) & ~1
        span_y = max(1, h - top_limit - size)
        for figure in range(self.figures):
            speed = 3 + 2 * figure
            x = (index * speed + figure * w // 3) % max(1, w - size)
            y = top_limit + (index * (figure + 1) + figure * span_y // 2) % span_y
            x, y = x & ~1, y & ~1
            yuv[y : y + size, x : x + size] = 200 - 40 * figure
            u, v = _chroma_planes(yuv, w, h)
            u[y // 2 : (y + size) // 2, x // 2 : (x + size) // 2] = 90 + 50 * figure
            v[y // 2 : (y + size) // 2, x // 2 : (x + size) // 2] = 170 - 30 * figure


def _chroma_planes(
    yuv: npt.NDArray[np.uint8], w: int, h: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Views of the U and V planes inside PyAV's (H*3/2, W) yuv420p layout."""
    quarter = h // 4
    return (
        yuv[h : h + quarter].reshape(h // 2, w // 2),
        yuv[h + quarter : h + 2 * quarter].reshape(h // 2, w // 2),
    )


def _row_top(block: float, row: int) -> float:
    return block / 2 + row * block * 1.5


def read_stamp(image: npt.NDArray[np.uint8]) -> Stamp | None:
    """Read the stamp from a decoded frame (grey H x W, or BGR/RGB H x W x 3) of any size.

    Returns None when the code does not check out (not a pattern frame, or damaged).
    """
    grey = image if image.ndim == 2 else image.mean(axis=2)
    width = grey.shape[1]
    b = block_size(width)
    values: list[list[int]] = []
    half = max(1, int(b / 4))
    for row, count in ((0, _INDEX_BITS + _CRC_BITS), (1, _CLOCK_BITS + _CRC_BITS)):
        centre_y = int(_row_top(b, row) + b / 2)
        bits = []
        for column in range(count):
            centre_x = int(column * b + b / 2)
            patch = grey[centre_y - half : centre_y + half, centre_x - half : centre_x + half]
            bits.append(1 if float(patch.mean()) > _GREY else 0)
        values.append(bits)
    index = _to_int(values[0][:_INDEX_BITS])
    if crc8(index, _INDEX_BITS) != _to_int(values[0][_INDEX_BITS:]):
        return None
    clock = _to_int(values[1][:_CLOCK_BITS])
    if crc8(clock, _CLOCK_BITS) != _to_int(values[1][_CLOCK_BITS:]):
        return None
    return Stamp(index=index, clock_ms=clock)


def _to_int(bits: list[int]) -> int:
    value = 0
    for bit in bits:
        value = (value << 1) | bit
    return value
