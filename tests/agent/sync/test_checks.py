"""``sideline agent check``: a readable report of what the box can and cannot reach."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sideline.cli import app
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.seaweed import SeaweedS3
from tests.agent.sync.conftest import Device

runner = CliRunner()


def write_config(
    tmp_path: Path,
    device: Device,
    broker: MosquittoBroker,
    seaweed: SeaweedS3,
    *,
    password: str | None = None,
    bucket: str = "sideline-clips",
) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[device]
org = "{device.org}"
id = "{device.id}"
data_dir = "{tmp_path / "data"}"

[[cameras]]
id = "cam1"
kind = "test"

[mqtt]
port = {broker.port}
username = "{device.id}"
password = "{password or device.password}"

[s3]
endpoint_url = "{seaweed.endpoint_url}"
addressing_style = "path"
bucket = "{bucket}"
access_key_id = "{device.s3_key}"
secret_access_key = "{device.s3_secret}"
"""
    )
    return path


def test_a_box_that_reaches_everything_gets_a_clean_report(
    tmp_path: Path, mosquitto: MosquittoBroker, seaweed: SeaweedS3, s3_device: Device
) -> None:
    result = runner.invoke(
        app,
        ["agent", "check", "--config", str(write_config(tmp_path, s3_device, mosquitto, seaweed))],
    )
    assert result.exit_code == 0, result.output
    assert (
        f"[ok] mqtt broker 127.0.0.1:{mosquitto.port}: logged in as {s3_device.id}" in result.output
    )
    assert f"can write, read and delete under org1/{s3_device.id}/" in result.output
    assert "[ok] data dir" in result.output
    assert "[ok] camera cam1 (test): 1280x720 at" in result.output


def test_a_refused_password_and_a_missing_bucket_are_named_with_the_fix(
    tmp_path: Path, mosquitto: MosquittoBroker, seaweed: SeaweedS3, s3_device: Device
) -> None:
    config = write_config(
        tmp_path, s3_device, mosquitto, seaweed, password="wrong", bucket="no-such-bucket"
    )
    result = runner.invoke(app, ["agent", "check", "--config", str(config)])
    assert result.exit_code == 1
    assert (
        "[FAIL] mqtt broker" in result.output
        and "check mqtt.username and mqtt.password" in result.output
    )
    assert "[FAIL] s3 bucket no-such-bucket" in result.output and "check s3.bucket" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_broker_is_a_failed_check_not_a_crash(
    tmp_path: Path, mosquitto: MosquittoBroker, seaweed: SeaweedS3, s3_device: Device
) -> None:
    config = write_config(tmp_path, s3_device, mosquitto, seaweed)
    config.write_text(config.read_text().replace(f"port = {mosquitto.port}", "port = 9"))
    result = runner.invoke(app, ["agent", "check", "--config", str(config)])
    assert result.exit_code == 1
    assert "cannot connect" in result.output and "check mqtt.host, mqtt.port" in result.output


def test_three_broken_parts_are_all_reported_and_the_rest_checked(
    tmp_path: Path, mosquitto: MosquittoBroker, seaweed: SeaweedS3, s3_device: Device
) -> None:
    """A model onnxruntime cannot read, a camera whose file is gone, a broker port with
    nobody behind it: three FAIL lines, each with its fix, and every other check still runs."""
    model = tmp_path / "detector.onnx"
    model.write_bytes(b"this is not an onnx model")
    model.with_suffix(".json").write_text(
        '{"format": "yolov8", "input": {"width": 320, "height": 320}, "classes": ["ball"]}'
    )
    config = write_config(tmp_path, s3_device, mosquitto, seaweed)
    text = config.read_text().replace(f"port = {mosquitto.port}", "port = 9")
    text = text.replace(
        '[[cameras]]\nid = "cam1"\nkind = "test"\n',
        '[[cameras]]\nid = "cam1"\nkind = "test"\n'
        f'[[cameras]]\nid = "replay"\nkind = "file"\npath = "{tmp_path / "gone.mp4"}"\n',
    )
    text += f'\n[detect]\nenabled = true\nmodel = "{model}"\nwarmup_runs = 0\n'
    config.write_text(text)
    result = runner.invoke(app, ["agent", "check", "--config", str(config)])
    output = result.output
    assert result.exit_code == 1, output
    failed = [line for line in output.splitlines() if line.startswith("  [FAIL]")]
    assert len(failed) == 3, output
    assert f"[FAIL] detection model: model file {model} cannot be loaded by onnxruntime" in output
    assert "[FAIL] camera replay (file): cannot open" in output
    assert "check the camera's path (the file is not there)" in output
    assert "[FAIL] mqtt broker 127.0.0.1:9: cannot connect" in output
    # Everything else was checked, after the failures as before them.
    assert "[ok] camera cam1 (test)" in output and "[ok] data dir" in output
    assert f"[ok] s3 bucket sideline-clips at {seaweed.endpoint_url}" in output
    assert "3 of 6 checks failed: detection model, camera replay (file), mqtt broker" in output
    assert "Traceback" not in output

    # --offline: the same local problems, and nothing on the network is tried.
    offline = runner.invoke(app, ["agent", "check", "--offline", "--config", str(config)])
    assert offline.exit_code == 1
    assert "[FAIL] detection model" in offline.output and "[FAIL] camera replay" in offline.output
    assert "mqtt broker 127.0.0.1:9" not in offline.output.split("checks:")[1]
    assert "[skip] mqtt broker and s3 bucket: on the network (--offline)" in offline.output
