"""The `sideline` command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cloud.api.app import create_app
from cloud.config import CloudConfig
from protocol.schema import render_schemas
from sideline.cli import app
from tests.procs import child_env, sideline_argv

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [[], ["agent", "check"], ["cloud", "device", "add"], ["demo"], ["cloud", "api"]],
    ids=lambda argv: " ".join(argv) or "sideline",
)
def test_help_shows_flags_without_a_type(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "--help" in result.output and "<bool>" not in result.output


def test_help_still_shows_the_type_of_an_option_with_a_value() -> None:
    result = runner.invoke(app, ["demo", "--help"], terminal_width=120)
    assert "--api-port" in result.output and "<int>" in result.output


def test_protocol_schema_writes_one_file_per_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["protocol", "schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert written == render_schemas()


def test_agent_check_accepts_the_example_config() -> None:
    """The example is a Pi's config: valid, and --offline checks what is local, so here (no
    picamera2) the Pi camera's line fails, saying how to install it; the IP camera is skipped."""
    result = runner.invoke(
        app, ["agent", "check", "--offline", "--config", str(ROOT / "docs/agent.example.toml")]
    )
    assert result.output.startswith("config ") and ": ok\n" in result.output
    assert "riverside-fc/field-north" in result.output
    assert "camera   goal (rtsp)" in result.output
    assert "[skip] camera goal (rtsp): on the network (--offline)" in result.output
    assert "[FAIL] camera main (picamera): picamera2 is not available" in result.output
    assert "1 of 3 checks failed: camera main (picamera)" in result.output
    assert result.exit_code == 1


def test_agent_check_explains_a_bad_config_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('[device]\norg = "o"\nid = "d"\n[[cameras]]\nid = "c"\nkind = "test"\nfps = 0\n')
    result = runner.invoke(app, ["agent", "check", "--config", str(bad)])
    assert result.exit_code == 2
    assert "cameras.0.test.fps = 0" in result.output
    assert "greater than 0" in result.output
    assert "Traceback" not in result.output


def test_console_entry_point_runs() -> None:
    result = subprocess.run(
        sideline_argv("version"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        check=True,
    )
    assert result.stdout.startswith("sideline 0.1.0 (protocol 1)")


def test_cloud_api_answers_health() -> None:
    client = TestClient(create_app(CloudConfig()))
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["protocol"] == 1
