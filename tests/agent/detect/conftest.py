"""Models and scenes shared by the detection tests (built once per session, nothing downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.detect.detector import Detector
from agent.detect.manifest import load_manifest
from agent.detect.model import load_model
from agent.detect.session import SessionSettings
from agent.detect.worker import DetectionWorker
from tests.agent.detect.scenes import BALL, BIB, PERSON
from tests.agent.detect.synthetic_models import build_colour_detector, manifest_for, write_model

CLASSES = [BALL, PERSON, BIB]
FORMATS = ["yolov5", "yolov8", "yolox", "nanodet", "ssd", "nms"]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def model_path(model_dir: Path) -> Path:
    """The YOLOv8-layout colour detector most tests run."""
    return write_model(
        model_dir,
        "colour-yolov8",
        build_colour_detector("yolov8", CLASSES),
        manifest_for("yolov8", CLASSES),
    )


def open_detector(path: Path, score_threshold: float | None = None) -> Detector:
    manifest = load_manifest(path.with_suffix(".json"))
    return Detector(
        load_model(path, manifest, SessionSettings(threads=1)), score_threshold=score_threshold
    )


@pytest.fixture(scope="session")
def detector(model_path: Path) -> Detector:
    return open_detector(model_path)


def read_manifest(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.with_suffix(".json").read_text())
    return data


def running(worker: DetectionWorker) -> Detector:
    """The worker's detector, which the test expects to be running."""
    assert worker.detector is not None, "no model is running"
    return worker.detector
