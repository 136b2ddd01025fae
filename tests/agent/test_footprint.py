"""What the agent's process loads: only what the box uses (docs/budget.md).

The real ``sideline agent run``, on a file camera; its memory map says which
native libraries it loaded. Without detection: no onnxruntime, no NumPy; never
OpenCV (PyAV and NumPy do its old jobs) nor the cloud's PostgreSQL driver
(installed here beside the agent, as on a developer's machine).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from agent.capture.config import FileCameraConfig
from sideline.services.mosquitto import MosquittoBroker
from tests.agent.detect.conftest import CLASSES
from tests.agent.detect.synthetic_models import build_colour_detector, manifest_for, write_model
from tests.agent.sync.conftest import Device, agent_config, config_json
from tests.agent.test_daemon import json_to_toml
from tests.media import write_test_video
from tests.procs import child_env, sideline_argv

LIBRARIES = {
    "onnxruntime": re.compile(r"onnxruntime_pybind11_state"),
    "numpy": re.compile(r"numpy/_core/_multiarray_umath"),
    "OpenCV": re.compile(r"/cv2/"),
    "psycopg2": re.compile(r"psycopg2"),
    "PyAV": re.compile(r"/av/"),
}


def loaded_libraries(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, **detect: object
) -> set[str]:
    video = write_test_video(tmp_path / "camera.mp4", seconds=2)
    config = agent_config(
        tmp_path,
        device,
        mosquitto,
        detect=detect,
        s3={"endpoint_url": "http://127.0.0.1:9", "addressing_style": "path"},
    )
    camera = FileCameraConfig(id="cam1", path=video.path)
    text = config_json(config.model_copy(update={"cameras": [camera]}))
    toml = tmp_path / "agent.toml"
    toml.write_text(json_to_toml(text))
    log = tmp_path / "agent.log"
    with log.open("w") as stderr:
        agent = subprocess.Popen(
            sideline_argv("agent", "run", "--config", str(toml)), env=child_env(), stderr=stderr
        )
    try:
        deadline = time.monotonic() + 60
        while "file source open" not in log.read_text():
            assert agent.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        while " running (store " not in log.read_text():  # every part has started
            assert agent.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        maps = Path(f"/proc/{agent.pid}/maps").read_text()
    finally:
        agent.terminate()
        agent.wait(30)
    return {name for name, pattern in LIBRARIES.items() if pattern.search(maps)}


def test_without_detection_neither_onnxruntime_nor_numpy_is_loaded(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device
) -> None:
    assert loaded_libraries(tmp_path, mosquitto, device) == {"PyAV"}


def test_with_detection_onnxruntime_and_numpy_but_not_opencv(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device
) -> None:
    model = write_model(
        tmp_path / "model",
        "m",
        build_colour_detector("yolov8", CLASSES),
        manifest_for("yolov8", CLASSES),
    )
    found = loaded_libraries(tmp_path, mosquitto, device, enabled=True, model=str(model), fps=5.0)
    assert found == {"PyAV", "onnxruntime", "numpy"}
