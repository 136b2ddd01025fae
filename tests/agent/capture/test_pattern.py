from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.capture.sources.pattern import PatternPainter, crc8, read_stamp
from tests.media import TestVideo, decode_clip


def test_stamp_reads_back_from_raw_frame() -> None:
    painter = PatternPainter(640, 360)
    image = painter.paint(123_456, 1_767_261_600_123)
    stamp = read_stamp(image[:360])
    assert stamp is not None
    assert (stamp.index, stamp.clock_ms) == (123_456, 1_767_261_600_123)


def test_every_frame_of_an_encoded_video_is_readable(video: TestVideo) -> None:
    decoded = decode_clip(video.path)
    assert decoded.indices == list(range(video.frames))
    first = decoded.stamps[0]
    assert first is not None and first.clock_ms == round(video.start_at * 1000)


def test_stamp_survives_scaling_to_thumbnail_size() -> None:
    image = PatternPainter(1280, 720).paint(77, 1_000)
    bgr = cv2.cvtColor(image, cv2.COLOR_YUV2BGR_I420)
    small = cv2.resize(bgr, (320, 180), interpolation=cv2.INTER_AREA)
    stamp = read_stamp(small.astype(np.uint8))
    assert stamp is not None and stamp.index == 77


def test_damaged_code_is_refused_not_misread() -> None:
    image = PatternPainter(640, 360).paint(5, 1_000)[:360].copy()
    image[: 640 // 64 * 2, : 640 // 64 * 8] = 255 - image[: 640 // 64 * 2, : 640 // 64 * 8]
    assert read_stamp(image) is None
    assert read_stamp(np.zeros((360, 640), dtype=np.uint8)) is None


def test_crc_detects_single_bit_errors() -> None:
    value = 0xDEADBEEF
    assert all(crc8(value ^ (1 << bit), 32) != crc8(value, 32) for bit in range(32))


def test_pattern_refuses_odd_sizes() -> None:
    with pytest.raises(ValueError, match="even size"):
        PatternPainter(641, 360)


def test_blank_frames_never_check_out() -> None:
    assert read_stamp(np.full((360, 640), 255, dtype=np.uint8)) is None
