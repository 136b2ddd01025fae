"""The motion gate: still scenes are still, motion is found and located, masks hide it."""

from __future__ import annotations

import numpy as np

from agent.detect.config import MotionConfig
from agent.detect.motion import MotionGate, polygon_mask
from agent.detect.pipeline import crop_region
from tests.agent.detect.scenes import BALL, Figure, render


def test_a_still_noisy_scene_is_still() -> None:
    gate = MotionGate(MotionConfig())
    rng = np.random.default_rng(1)
    scene = [Figure(BALL, 200, 100, 40, 40)]
    results = [gate.check(render(scene, noise=4.0, rng=rng)) for _ in range(50)]
    assert results[0].moving  # the first frame has nothing to compare with
    assert not any(r.moving for r in results[1:])


def test_a_moving_figure_is_found_where_it_moves() -> None:
    gate = MotionGate(MotionConfig())
    gate.check(render([Figure(BALL, 200, 100, 40, 40)]))
    result = gate.check(render([Figure(BALL, 260, 100, 40, 40)]))
    assert result.moving and result.region is not None
    x, y, w, h = result.region
    # Both the place it left and the place it reached changed.
    assert x <= 204 and x + w >= 296 and y <= 104 and y + h >= 136
    assert result.changed_fraction > 0


def test_motion_inside_a_mask_is_ignored() -> None:
    mask = [[(0.25, 0.2), (0.5, 0.2), (0.5, 0.5), (0.25, 0.5)]]  # x 160..320, y 72..180 of 640x360
    gate = MotionGate(MotionConfig(masks=mask))
    gate.check(render([Figure(BALL, 200, 100, 40, 40)]))
    assert not gate.check(render([Figure(BALL, 230, 110, 40, 40)])).moving
    assert gate.check(render([Figure(BALL, 400, 200, 40, 40)])).moving


def test_sensitivity_decides_how_faint_a_change_counts() -> None:
    base = render([])
    fainter = base.copy()
    fainter[100:200, 100:200] = np.clip(fainter[100:200, 100:200].astype(int) + 20, 0, 255)
    for sensitivity, expected in ((0.1, False), (0.9, True)):
        gate = MotionGate(MotionConfig(sensitivity=sensitivity))
        gate.check(base)
        assert gate.check(fainter).moving is expected


def test_min_area_ignores_specks() -> None:
    gate = MotionGate(MotionConfig(min_area_fraction=0.05))
    gate.check(render([]))
    assert not gate.check(render([Figure(BALL, 300, 150, 20, 20)])).moving


def test_polygon_mask_blanks_the_polygon() -> None:
    mask = polygon_mask([[(0, 0), (0.5, 0), (0.5, 1), (0, 1)]], 100, 50)
    assert mask[:, :45].max() == 0 and mask[:, 55:].min() == 255


def test_crop_region_grows_to_the_model_size_and_stays_in_the_frame() -> None:
    assert crop_region((600, 10, 20, 20), 1280, 720, 0.25, 320) == (450, 0, 320, 320)
    assert crop_region((0, 0, 1200, 700), 1280, 720, 0.25, 320) is None  # most of the frame
