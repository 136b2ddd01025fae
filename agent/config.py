"""The agent's whole configuration: one typed tree, loaded once and passed in.

Each section lives beside the code it configures (``agent/capture/config.py``,
...); this module composes them and checks what spans sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from agent.buffer.config import BufferConfig
from agent.capture.config import CameraConfig, ClipConfig, RecordingConfig
from agent.detect.config import DetectConfig
from agent.sync.config import MqttConfig, S3Config, SyncConfig
from agent.triggers.config import TriggersConfig
from core.settings import FileSettings, Section, load_settings
from protocol.ids import Segment

__all__ = ["AgentConfig", "DaemonConfig", "DeviceConfig", "HealthConfig", "load_agent_config"]


class DeviceConfig(Section):
    org: Segment = Field(description="Organisation id (slug) this box belongs to.")
    id: Segment = Field(description="Device id issued by `sideline cloud device add`.")
    name: str | None = Field(default=None, max_length=100)
    data_dir: Path = Field(
        default=Path("/var/lib/sideline"), description="Store, clips and segments live here."
    )


class HealthConfig(Section):
    heartbeat_interval_s: float = Field(default=30.0, ge=1, le=3600)


class DaemonConfig(Section):
    shutdown_timeout_s: float = Field(
        default=20.0,
        ge=1,
        le=600,
        description="SIGTERM: in-flight work is drained within this bound (keep it below "
        "the unit's TimeoutStopSec).",
    )
    liveness_timeout_s: float = Field(
        default=30.0,
        ge=2,
        le=600,
        description="A loop that has not ticked for this long stops the systemd watchdog.",
    )


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    journald: bool | None = Field(default=None, description="Empty: when running under systemd.")


class AgentConfig(FileSettings):
    model_config = SettingsConfigDict(env_prefix="SIDELINE_AGENT_")

    device: DeviceConfig
    cameras: list[CameraConfig] = Field(min_length=1)
    clips: ClipConfig = Field(default_factory=ClipConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    buffer: BufferConfig = Field(default_factory=BufferConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    s3: S3Config = Field(default_factory=S3Config)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    triggers: TriggersConfig = Field(default_factory=TriggersConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _cross_references(self) -> AgentConfig:
        ids = [camera.id for camera in self.cameras]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"camera ids must be unique; repeated: {', '.join(duplicates)}")
        for button in self.triggers.all_buttons:
            tag = button.tag
            if tag is None:
                continue
            if tag.camera_id is not None and tag.camera_id not in ids:
                raise ValueError(
                    f"button {button.pin}: tag camera {tag.camera_id!r} is not configured "
                    f"(cameras: {', '.join(ids)})"
                )
            if tag.lag_s > self.clips.max_post_seconds:
                raise ValueError(
                    f"button {button.pin}: tag lag_s {tag.lag_s:g} is above "
                    f"clips.max_post_seconds ({self.clips.max_post_seconds:g})"
                )
            if tag.lead_s + tag.lag_s > self.recording.max_range_seconds:
                raise ValueError(
                    f"button {button.pin}: tag lead_s + lag_s ({tag.lead_s + tag.lag_s:g} s) is "
                    f"above recording.max_range_seconds ({self.recording.max_range_seconds:g})"
                )
        for zone in self.detect.zones:
            if zone.camera_id not in ids:
                raise ValueError(
                    f"detect zone {zone.name!r} names camera {zone.camera_id!r}, "
                    f"which is not configured (cameras: {', '.join(ids)})"
                )
        return self


def load_agent_config(path: Path | None) -> AgentConfig:
    """Load and validate; raises :class:`core.settings.ConfigError` with a readable message."""
    return load_settings(AgentConfig, path)
