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
