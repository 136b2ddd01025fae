"""Every supported output layout, end to end through onnxruntime on rendered frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.detect.detector import Detections
from agent.detect.nms import iou_matrix
from tests.agent.detect.conftest import CLASSES, FORMATS, open_detector
from tests.agent.detect.scenes import BALL, BIB, PERSON, Figure, render
from tests.agent.detect.synthetic_models import (
    ColourClass,
    build_colour_detector,
    manifest_for,
    write_model,
)

SCENE = [
    Figure(BALL, 100.3, 50, 30, 30),
    Figure(PERSON, 300, 150, 40, 70),
    Figure(PERSON, 480, 200, 40, 70),
    Figure(BIB, 520, 40, 50, 40),
]


def assert_finds(found: Detections, figures: list[Figure], min_iou: float = 0.9) -> None:
    """One detection per figure, of its class, boxed tightly; nothing else."""
    assert len(found) == len(figures), [found.label(i) for i in range(len(found))]
    truth = np.array([f.box for f in figures], dtype=np.float32)
    overlap = iou_matrix(truth, found.boxes)
    for index, figure in enumerate(figures):
        best = int(overlap[index].argmax())
        assert overlap[index, best] >= min_iou, (figure, found.boxes[best])
        assert found.label(best) == figure.cls.name
    assert float(found.scores.min()) >= 0.5


def build(tmp_path: Path, fmt: str, **options: Any) -> Path:
    graph_options = {k: v for k, v in options.items() if k in {"nms_layout", "strides"}}
    input_options = {k: v for k, v in options.items() if k not in graph_options}
    shape_options = {k: v for k, v in input_options.items() if k != "letterbox"}
    model = build_colour_detector(fmt, CLASSES, **graph_options, **shape_options)
    manifest = manifest_for(fmt, CLASSES, **input_options)
    if "strides" in graph_options:
        manifest["strides"] = list(graph_options["strides"])
    return write_model(tmp_path, fmt, model, manifest)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_finds_every_figure_once_with_its_class_and_box(
    tmp_path: Path, fmt: str
) -> None:
    detector = open_detector(build(tmp_path, fmt))
    assert_finds(detector.detect(render(SCENE)), SCENE)


def test_nms_with_four_outputs_efficientnms_layout(tmp_path: Path) -> None:
    detector = open_detector(build(tmp_path, "nms", nms_layout="four"))
    assert_finds(detector.detect(render(SCENE)), SCENE)


def test_centerface_heat_maps(tmp_path: Path) -> None:
    faces = [ColourClass("face", BALL.bgr)]
    model = build_colour_detector("centerface", faces, strides=(4,))
    manifest = {**manifest_for("centerface", faces), "strides": [4]}
    detector = open_detector(write_model(tmp_path, "centerface", model, manifest))
    figures = [Figure(faces[0], 100, 50, 30, 30), Figure(faces[0], 400, 200, 50, 40)]
    assert_finds(detector.detect(render(figures)), figures)


def test_nanodet_with_four_strides(tmp_path: Path) -> None:
    detector = open_detector(build(tmp_path, "nanodet", strides=(8, 16, 32, 64)))
    assert_finds(detector.detect(render(SCENE)), SCENE)


@pytest.mark.parametrize(
    "input_options",
    [
        {"colour": "BGR"},
        {"layout": "NHWC"},
        {"dtype": "uint8", "std": (1.0, 1.0, 1.0)},
        {"mean": (123.675, 116.28, 103.53), "std": (58.395, 57.12, 57.375)},
        {"width": 416, "height": 256},
    ],
    ids=["bgr", "nhwc", "uint8", "imagenet-normalised", "non-square"],
)
def test_input_variants_are_fed_as_the_manifest_says(
    tmp_path: Path, input_options: dict[str, Any]
) -> None:
    detector = open_detector(build(tmp_path, "yolov8", **input_options))
    assert_finds(detector.detect(render(SCENE)), SCENE)


def test_stretch_instead_of_letterbox_still_maps_boxes_back(tmp_path: Path) -> None:
    detector = open_detector(build(tmp_path, "yolov5", letterbox=False))
    # 640x360 stretched into 320x320: x shrinks by 2, y by 1.125; boxes come back exact.
    figures = [Figure(BALL, 100, 50, 30, 30), Figure(PERSON, 300, 150, 40, 40)]
    assert_finds(detector.detect(render(figures)), figures)


def test_boxes_map_back_onto_frames_of_other_sizes(model_path: Path) -> None:
    detector = open_detector(model_path)
    figures = [Figure(BALL, 40, 500, 50, 50), Figure(PERSON, 900, 200, 70, 120)]
    found = detector.detect(render(figures, width=1280, height=720))
    assert_finds(found, figures)
    assert (found.width, found.height) == (1280, 720)


def test_detecting_in_a_region_of_interest_reports_frame_coordinates(model_path: Path) -> None:
    detector = open_detector(model_path)
    figures = [Figure(BALL, 100, 100, 50, 50), Figure(PERSON, 900, 400, 70, 76)]
    image = render(figures, width=1280, height=720)
    found = detector.detect(image, roi=(640, 300, 640, 360))  # holds the person only
    assert_finds(found, [figures[1]])


def test_class_mask_drops_disabled_classes(model_path: Path) -> None:
    detector = open_detector(model_path)
    found = detector.detect(render(SCENE), class_mask=detector.class_mask({"person"}))
    assert_finds(found, [SCENE[1], SCENE[2]])
    assert len(detector.detect(render(SCENE), class_mask=detector.class_mask(set()))) == 0


def test_an_empty_field_gives_no_detections(model_path: Path) -> None:
    found = open_detector(model_path).detect(render([], noise=3.0))
    assert len(found) == 0
    assert found.boxes.shape == (0, 4)


def test_timings_are_reported_per_stage(model_path: Path) -> None:
    found = open_detector(model_path).detect(render(SCENE))
    t = found.timings
    assert t.preprocess_ms > 0 and t.inference_ms > 0 and t.postprocess_ms > 0
    assert t.total_ms == pytest.approx(t.preprocess_ms + t.inference_ms + t.postprocess_ms)


def test_score_threshold_override_from_config(model_path: Path) -> None:
    # The colour purity of a noisy figure is below 1; a threshold above it hides it.
    image = render([Figure(BALL, 100, 100, 40, 40)], noise=25.0)
    assert len(open_detector(model_path).detect(image)) == 1
    assert len(open_detector(model_path, score_threshold=0.999).detect(image)) == 0


def test_adapters_register_by_the_format_they_declare() -> None:
    from agent.detect.adapters import known_formats
    from agent.detect.adapters.base import OutputAdapter, registered_adapters

    assert known_formats() == ["centerface", "nanodet", "nms", "ssd", "yolov5", "yolov8", "yolox"]
    assert all(cls.format == name for name, cls in registered_adapters().items())
    with pytest.raises(TypeError, match="format 'yolov5' is YoloV5Adapter's"):
        type("Impostor", (OutputAdapter,), {"format": "yolov5"})
