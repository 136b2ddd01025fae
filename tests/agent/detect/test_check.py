"""`sideline agent check` loads the configured model and reports a wrong one clearly."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sideline.cli import app

runner = CliRunner()


def agent_toml(tmp_path: Path, model: Path | None, enabled: bool = True) -> Path:
    path = tmp_path / "agent.toml"
    model_line = f'model = "{model}"\n' if model is not None else ""
    path.write_text(
        '[device]\norg = "org1"\nid = "dev1"\ndata_dir = "' + str(tmp_path) + '"\n'
        '[[cameras]]\nid = "cam1"\nkind = "test"\n'
        f"[detect]\nenabled = {'true' if enabled else 'false'}\n{model_line}"
    )
    return path


def test_check_reports_the_model(tmp_path: Path, model_path: Path) -> None:
    result = runner.invoke(
        app, ["agent", "check", "--offline", "--config", str(agent_toml(tmp_path, model_path))]
    )
    assert result.exit_code == 0, result.output
    assert f"detect   {model_path} (yolov8, 320x320, 3 classes: ball, person, bib)" in result.output
    assert "providers CPUExecutionProvider" in result.output


def test_check_says_detection_is_off(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["agent", "check", "--offline", "--config", str(agent_toml(tmp_path, None, enabled=False))],
    )
    assert result.exit_code == 0 and "detect   off" in result.output


def test_check_fails_on_a_wrong_model_and_goes_on(tmp_path: Path, model_path: Path) -> None:
    copy = tmp_path / "model.onnx"
    copy.write_bytes(model_path.read_bytes())
    manifest = json.loads(model_path.with_suffix(".json").read_text())
    manifest["sha256"] = "e" * 64
    copy.with_suffix(".json").write_text(json.dumps(manifest))
    result = runner.invoke(
        app, ["agent", "check", "--offline", "--config", str(agent_toml(tmp_path, copy))]
    )
    assert result.exit_code == 1
    assert "[FAIL] detection model: model file " in result.output
    assert f"model file {copy} has sha256" in result.output and "e" * 64 in result.output
    assert "[ok] camera cam1 (test)" in result.output  # the lines after it are still there
    assert "Traceback" not in result.output


def test_a_model_onnxruntime_cannot_parse_says_how_to_fix_it(
    tmp_path: Path, model_path: Path
) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(model_path.read_bytes()[: len(model_path.read_bytes()) // 3])  # cut short
    manifest = json.loads(model_path.with_suffix(".json").read_text())
    manifest.pop("sha256", None)
    broken.with_suffix(".json").write_text(json.dumps(manifest))
    result = runner.invoke(
        app, ["agent", "check", "--offline", "--config", str(agent_toml(tmp_path, broken))]
    )
    assert result.exit_code == 1
    assert f"model file {broken} cannot be loaded by onnxruntime" in result.output
    assert "the download may be cut short or damaged: fetch it again" in result.output
    assert "re-export it to ONNX" in result.output


def test_a_manifest_names_the_bad_value_and_the_allowed_ones(
    tmp_path: Path, model_path: Path
) -> None:
    copy = tmp_path / "model.onnx"
    copy.write_bytes(model_path.read_bytes())
    manifest = json.loads(model_path.with_suffix(".json").read_text())
    manifest["format"] = "yolo8"
    manifest["input"]["layout"] = "NCWH"
    copy.with_suffix(".json").write_text(json.dumps(manifest))
    result = runner.invoke(
        app, ["agent", "check", "--offline", "--config", str(agent_toml(tmp_path, copy))]
    )
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # the terminal may wrap long lines
    assert "format: 'yolo8' is not one of " in output and "yolov8" in output
    assert "input.layout: 'NCWH' is not one of 'NCHW' or 'NHWC'" in output


def test_enabled_without_a_model_is_a_config_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agent", "check", "--config", str(agent_toml(tmp_path, None))])
    assert result.exit_code == 2 and "detect.model is not set" in result.output
    assert "Value error," not in result.output  # pydantic's prefix says nothing to a user
