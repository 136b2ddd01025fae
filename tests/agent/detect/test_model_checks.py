"""A wrong model fails at start-up, naming the file, what was expected and what was found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.detect.errors import ModelError
from agent.detect.manifest import load_manifest, parse_manifest
from agent.detect.model import load_model
from agent.detect.session import SessionSettings, resolve_providers
from core.settings import ConfigError
from tests.agent.detect.conftest import CLASSES
from tests.agent.detect.synthetic_models import build_colour_detector, manifest_for, write_model


def load(path: Path) -> None:
    load_model(path, load_manifest(path.with_suffix(".json")), SessionSettings(threads=1))


def rewrite_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads(path.with_suffix(".json").read_text())
    manifest.update(changes)
    path.with_suffix(".json").write_text(json.dumps(manifest))


def copy_model(model_path: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model.onnx"
    target.write_bytes(model_path.read_bytes())
    target.with_suffix(".json").write_text(model_path.with_suffix(".json").read_text())
    return target


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.onnx"
    manifest = parse_manifest(manifest_for("yolov8", CLASSES), "test")
    with pytest.raises(ModelError, match=r"model file .*nowhere\.onnx does not exist"):
        load_model(path, manifest, SessionSettings())


def test_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model manifest .*absent\.json does not exist"):
        load_manifest(tmp_path / "absent.json")


def test_checksum_mismatch_names_both_sums(model_path: Path, tmp_path: Path) -> None:
    path = copy_model(model_path, tmp_path)
    rewrite_manifest(path, sha256="0" * 64)
    with pytest.raises(ModelError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message and "0" * 64 in message and "has sha256" in message


def test_requested_checksum_is_checked_too(model_path: Path) -> None:
    manifest = load_manifest(model_path.with_suffix(".json"))
    with pytest.raises(ModelError, match="the request expects " + "a" * 64):
        load_model(model_path, manifest, SessionSettings(), expected_sha256="a" * 64)


def test_format_that_does_not_match_the_outputs(model_path: Path, tmp_path: Path) -> None:
    path = copy_model(model_path, tmp_path)
    rewrite_manifest(path, format="yolov5", sha256=None)
    with pytest.raises(ModelError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message
    assert "[1, 7, 2100]" in message  # what was found: YOLOv8's layout, 4 + 3 classes
    assert "'yolov5' with 3 classes" in message and "[1, N, 8]" in message  # what was expected


def test_class_count_that_does_not_match_the_outputs(model_path: Path, tmp_path: Path) -> None:
    path = copy_model(model_path, tmp_path)
    rewrite_manifest(path, classes=["ball", "person"], sha256=None)
    with pytest.raises(ModelError, match=r"with 2 classes, which needs one output \[1, 6, N\]"):
        load(path)


def test_input_size_that_does_not_match(model_path: Path, tmp_path: Path) -> None:
    path = copy_model(model_path, tmp_path)
    rewrite_manifest(path, input={"width": 640, "height": 640}, sha256=None)
    with pytest.raises(ModelError) as caught:
        load(path)
    message = str(caught.value)
    assert "[1, 3, 320, 320]" in message and "[1, 3, 640, 640]" in message


def test_input_layout_and_type_are_checked(model_path: Path, tmp_path: Path) -> None:
    path = copy_model(model_path, tmp_path)
    rewrite_manifest(path, input={"width": 320, "height": 320, "dtype": "uint8"}, sha256=None)
    with pytest.raises(ModelError, match=r"input of type tensor\(float\).*dtype 'uint8'"):
        load(path)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"this is not a model")
    path.with_suffix(".json").write_text(json.dumps(manifest_for("yolov8", CLASSES)))
    with pytest.raises(ModelError, match=r"broken\.onnx cannot be loaded by onnxruntime"):
        load(path)


def test_dynamic_shapes_are_checked_on_the_warm_up_outputs(tmp_path: Path) -> None:
    # NMS-in-graph output is [1, K, 6] with K symbolic; declaring 'ssd' must fail
    # on the output count already, and 'nms' must pass with the real K.
    path = write_model(
        tmp_path, "nms", build_colour_detector("nms", CLASSES), manifest_for("nms", CLASSES)
    )
    load(path)
    rewrite_manifest(path, format="ssd")
    with pytest.raises(ModelError, match=r"declares 1 output\(s\) \[1, K, 6\]"):
        load(path)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"format": "yolov9000"}, "format"),
        ({"classes": []}, "classes"),
        ({"input": {"width": 8, "height": 320}}, "input.width"),
        ({"sha256": "XYZ"}, "sha256"),
        ({"colour": "RGB"}, "colour: unknown key; allowed here: background_class, boxes"),
        (
            {"input": {"width": 320, "height": 320, "colour": "RGBA"}},
            "input.colour: 'RGBA' is not one of 'RGB' or 'BGR'",
        ),
        (
            {"input": {"width": 320, "height": 320, "size": 1}},
            "input.size: unknown key; allowed here: colour, dtype",
        ),
    ],
)
def test_bad_manifest_fields_are_named(
    tmp_path: Path, change: dict[str, object], fragment: str
) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**manifest_for("yolov8", CLASSES), **change}))
    with pytest.raises(ModelError) as caught:
        load_manifest(path)
    assert str(path) in str(caught.value) and fragment in str(caught.value)


def test_model_errors_are_config_errors_for_the_cli() -> None:
    assert issubclass(ModelError, ConfigError)


def test_unavailable_providers_fall_back_to_cpu() -> None:
    chosen = resolve_providers(
        SessionSettings(providers=("TensorrtExecutionProvider", "CUDAExecutionProvider"))
    )
    assert chosen == ["CPUExecutionProvider"]
