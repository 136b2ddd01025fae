"""Typed configuration: example files load, bad input is named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.capture.config import TestPatternCameraConfig
from agent.config import AgentConfig, load_agent_config
from cloud.config import CloudConfig, load_cloud_config
from core.settings import ConfigError, load_settings

DOCS = Path(__file__).resolve().parents[1] / "docs"

MINIMAL_AGENT = """
[device]
org = "org1"
id = "dev1"

[[cameras]]
id = "cam1"
kind = "test"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_agent_example_loads() -> None:
    config = load_agent_config(DOCS / "agent.example.toml")
    assert [c.kind for c in config.cameras] == ["picamera", "rtsp"]
    assert config.triggers.button is not None and config.triggers.button.pin == 17
    assert config.mqtt.password is not None
    assert "from-device-add" not in repr(config.mqtt)  # secrets are not printed


def test_cloud_example_loads() -> None:
    config = load_cloud_config(DOCS / "cloud.example.toml")
    assert config.environment == "production"
    assert config.database_url.startswith("postgresql://")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDELINE_AGENT_MQTT__HOST", "broker.local")
    monkeypatch.setenv("SIDELINE_AGENT_CLIPS__PRE_SECONDS", "12.5")
    config = load_agent_config(write(tmp_path, MINIMAL_AGENT))
    assert config.mqtt.host == "broker.local"
    assert config.clips.pre_seconds == 12.5


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[mqtt]\nhots = 'x'", ["mqtt.hots: unknown key", "allowed here:", "host"]),
        ("[clips]\npre_seconds = -5", ["clips.pre_seconds = -5", "greater than or equal to 0"]),
        ("[mqtt]\nport = 70000", ["mqtt.port = 70000", "less than or equal to 65535"]),
        ("[detect]\nfps = 'fast'", ["detect.fps = 'fast'", "valid number"]),
        ("[logging]\nlevel = 'LOUD'", ["logging.level = 'LOUD'", "'DEBUG'", "'ERROR'"]),
        ("[clips]\nring_seconds = 10", ["ring_seconds (10.0) must be at least max_pre_seconds"]),
        ("[[cameras]]\nid = 'cam1'\nkind = 'test'", ["camera ids must be unique; repeated: cam1"]),
        ("[[cameras]]\nid = 'x/y'\nkind = 'test'", ["cameras.1.test.id = 'x/y'", "pattern"]),
        ("[[cameras]]\nid = 'c2'\nkind = 'webcam'", ["cameras.1", "'picamera'", "'rtsp'"]),
        (
            "[[cameras]]\nid = 'ip'\nkind = 'rtsp'\nurl = 'rtsp://h/1'\nsubstream_url = 'rtsp://h/1'",
            ["cameras.1.rtsp", "substream_url is the main stream's url"],
        ),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(
    tmp_path: Path, extra: str, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_agent_config(write(tmp_path, MINIMAL_AGENT + extra))
    message = str(caught.value)
    assert str(tmp_path / "agent.toml") in message
    for fragment in expected:
        assert fragment in message


def test_missing_required_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"device: required, but not set"):
        load_agent_config(write(tmp_path, "[[cameras]]\nid = 'c'\nkind = 'test'\n"))


def test_missing_file_and_bad_toml_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_agent_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_agent_config(write(tmp_path, "[device\norg="))


def test_unknown_environment_override_is_a_typo_not_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIDELINE_AGENT_MQQT__HOST", "x")
    with pytest.raises(ConfigError, match="SIDELINE_AGENT_MQQT__HOST does not match any setting"):
        load_agent_config(write(tmp_path, MINIMAL_AGENT))


def test_bad_environment_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDELINE_AGENT_MQTT__PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"mqtt.port = 'not-a-port'"):
        load_agent_config(write(tmp_path, MINIMAL_AGENT))


def test_production_cloud_refuses_placeholder_secret() -> None:
    with pytest.raises(ConfigError, match=r"api.secret_key is a placeholder"):
        load_settings(
            CloudConfig,
            None,
            environment="production",
            database_url="postgresql://x@y/z",
        )


def test_defaults_alone_make_a_development_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_settings(CloudConfig, None)
    assert config.environment == "development"
    assert config.database_url.startswith("sqlite")


def test_agent_tree_is_one_typed_object(tmp_path: Path) -> None:
    config = load_agent_config(write(tmp_path, MINIMAL_AGENT))
    assert isinstance(config, AgentConfig)
    camera = config.cameras[0]
    assert isinstance(camera, TestPatternCameraConfig) and camera.fps == 30.0
