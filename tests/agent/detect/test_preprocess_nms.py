"""Letterbox geometry, tensor layout and normalisation, and per-class NMS."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.detect.manifest import InputSpec
from agent.detect.nms import iou_matrix, nms_per_class
from agent.detect.preprocess import Preprocessor


def test_letterbox_centres_the_frame_and_pads() -> None:
    pre = Preprocessor(InputSpec(width=320, height=320))
    image = np.zeros((360, 640, 3), dtype=np.uint8)
    image[:] = (10, 20, 30)  # BGR
    tensor, box = pre(image)
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    assert (box.scale_x, box.pad_x, box.pad_y) == (0.5, 0.0, 70.0)
    assert np.allclose(tensor[0, :, 160, 160], np.array([30, 20, 10]) / 255)  # RGB order
    assert np.allclose(tensor[0, :, 10, 160], 114 / 255)  # padding above the picture


def test_a_frame_of_another_size_clears_the_old_padding() -> None:
    pre = Preprocessor(InputSpec(width=64, height=64, colour="BGR", std=(1.0, 1.0, 1.0)))
    pre(np.full((64, 32, 3), 200, dtype=np.uint8))  # tall: pads left and right
    tensor, _ = pre(np.full((32, 64, 3), 50, dtype=np.uint8))  # wide: pads top and bottom
    assert tensor[0, 0, 5, 5] == 114 and tensor[0, 0, 32, 5] == 50


def test_nhwc_uint8_tensor() -> None:
    pre = Preprocessor(InputSpec(width=32, height=32, layout="NHWC", dtype="uint8"))
    tensor, _ = pre(np.full((32, 32, 3), (1, 2, 3), dtype=np.uint8))
    assert tensor.shape == (1, 32, 32, 3) and tensor.dtype == np.uint8
    assert tensor[0, 10, 10].tolist() == [3, 2, 1]


@settings(max_examples=50, deadline=None)
@given(
    width=st.integers(50, 2000),
    height=st.integers(50, 2000),
    fx=st.floats(0, 0.9),
    fy=st.floats(0, 0.9),
)
def test_boxes_map_back_exactly(width: int, height: int, fx: float, fy: float) -> None:
    pre = Preprocessor(InputSpec(width=320, height=256))
    _, box = pre(np.zeros((height, width, 3), dtype=np.uint8))
    source = np.array(
        [[fx * width, fy * height, fx * width + 5, fy * height + 5]], dtype=np.float32
    )
    model = source.copy()
    model[:, [0, 2]] = model[:, [0, 2]] * box.scale_x + box.pad_x
    model[:, [1, 3]] = model[:, [1, 3]] * box.scale_y + box.pad_y
    assert np.allclose(box.to_source(model, width, height), source, atol=1e-2)


def reference_nms(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float
) -> list[int]:
    keep: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if all(
            classes[k] != classes[index]
            or iou_matrix(boxes[[k]], boxes[[index]])[0, 0] <= threshold
            for k in keep
        ):
            keep.append(int(index))
    return keep


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.integers(0, 2**31 - 1))
def test_nms_matches_the_textbook_greedy_per_class(count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (count, 2)).astype(np.float32)
    wh = rng.uniform(5, 40, (count, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = (rng.permutation(count) / max(count, 1)).astype(np.float32)  # distinct scores
    classes = rng.integers(0, 3, count).astype(np.intp)
    kept = nms_per_class(boxes, scores, classes, 0.45, 1000).tolist()
    assert kept == reference_nms(boxes, scores, classes, 0.45)


def test_nms_caps_the_number_kept() -> None:
    boxes = np.array([[i * 10, 0, i * 10 + 5, 5] for i in range(20)], dtype=np.float32)
    kept = nms_per_class(
        boxes, np.linspace(1, 0.1, 20).astype(np.float32), np.zeros(20, np.intp), 0.5, 7
    )
    assert kept.tolist() == list(range(7))
