"""The image operations detection uses instead of OpenCV (agent/detect/imaging.py)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.detect.imaging import Resizer, blur5, bounding_box, fill_polygon


def test_shrinking_averages_the_area_of_each_output_pixel() -> None:
    # 2x2 blocks of (0, 200) columns: area averaging gives 100 everywhere; sampling would not.
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    image[:, 1::2] = 200
    small = Resizer()(image, 80, 60)
    assert small.shape == (60, 80, 3)
    assert np.abs(small.astype(int) - 100).max() <= 1


def test_growing_interpolates_and_the_same_size_is_returned_as_it_is() -> None:
    image = np.zeros((10, 10, 3), dtype=np.uint8)
    image[:, 5:] = 255
    resize = Resizer()
    big = resize(image, 40, 40)
    assert big.shape == (40, 40, 3)
    row = big[20, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert 0 < row[19] < 255 or 0 < row[20] < 255  # a ramp at the edge, not a step
    assert resize(image, 10, 10) is image


def test_a_cropped_view_is_resized_like_a_copy() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    view = image[10:70, 20:100]
    resize = Resizer()
    assert np.array_equal(resize(view, 40, 30), resize(view.copy(), 40, 30))


def test_blur_is_the_5_tap_binomial_kernel() -> None:
    image = np.zeros((9, 9, 3), dtype=np.uint8)
    image[4, 4] = 255
    out = blur5(image)[:, :, 0].astype(float)
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256 * 255
    assert np.abs(out[2:7, 2:7] - kernel).max() <= 0.5
    assert out.sum() == pytest.approx(255, abs=13)  # rounding of 25 taps
    assert out[0].sum() == 0 and out[:, 0].sum() == 0


def test_blur_mirrors_at_the_edges() -> None:
    flat = np.full((6, 7, 3), 80, dtype=np.uint8)
    assert np.array_equal(blur5(flat), flat)


def test_a_polygon_fills_the_pixels_whose_centres_it_contains() -> None:
    mask = np.full((10, 20), 255, dtype=np.uint8)
    fill_polygon(mask, [(0, 0), (10, 0), (10, 10), (0, 10)], 0)
    assert (mask[:, :10] == 0).all() and (mask[:, 10:] == 255).all()
    triangle = np.zeros((100, 100), dtype=np.uint8)
    fill_polygon(triangle, [(0, 0), (100, 0), (0, 100)], 1)
    assert triangle.sum() == pytest.approx(5000, rel=0.02)
    assert triangle[10, 10] == 1 and triangle[90, 90] == 0


def test_a_self_crossing_polygon_uses_the_even_odd_rule() -> None:
    # A pentagram: the tips are inside, the pentagon at its centre is crossed twice: outside
    # (the non-zero rule would fill it).
    angles = [np.pi / 2 + k * 4 * np.pi / 5 for k in range(5)]
    star = [(50 + 45 * np.cos(a), 50 - 45 * np.sin(a)) for a in angles]
    mask = np.zeros((100, 100), dtype=np.uint8)
    fill_polygon(mask, star, 1)
    assert mask[50, 50] == 0
    assert mask[12, 50] == 1  # the top tip


def test_bounding_box_of_the_true_pixels() -> None:
    binary = np.zeros((30, 40), dtype=bool)
    assert bounding_box(binary) is None
    binary[5:9, 12:20] = True
    binary[20, 3] = True
    assert bounding_box(binary) == (3, 5, 17, 16)
