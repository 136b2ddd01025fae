"""The cloud's configuration (API and ingest share it): one typed tree."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from cloud.api.config import (
    ControlConfig,
    EmbeddingsSinkConfig,
    NoSinkConfig,
    SchedulingConfig,
    SharingConfig,
    TaggingConfig,
)
from cloud.ingest.config import IngestConfig
from cloud.observability.config import HealthConfig
from core.settings import FileSettings, Section, load_settings
from protocol.ids import Segment

__all__ = ["ApiConfig", "CloudConfig", "CloudMqttConfig", "CloudS3Config", "load_cloud_config"]

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "dev-secret-change-me"}


class CloudMqttConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(
        default=1884,
        ge=1,
        le=65535,
        description="The broker's listener for the cloud's services (not the boxes').",
    )
    device_port: int = Field(
        default=1883,
        ge=1,
        le=65535,
        description="The boxes' listener, as `device add` writes it into a box's config.",
    )
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    prefix: str = "sideline"
    shared_group: Segment = Field(
        default="ingest", description="Workers in one $share group split the messages."
    )
    client_id_prefix: Segment = Field(
        default="sideline-cloud",
        description="Start of the cloud's MQTT client ids; each ends in a part no device knows.",
    )


class CloudS3Config(Section):
    endpoint_url: str | None = None
    public_endpoint_url: str | None = Field(
        default=None, description="Host browsers reach for presigned URLs, if not endpoint_url."
    )
    region: str = "us-east-1"
    bucket: str = Field(default="sideline-clips", min_length=3, max_length=63)
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    presign_expiry_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)


class ApiConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr = SecretStr("dev-secret-change-me")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes behind the port (uvicorn's --workers): one per core "
        "the API may use. Metrics are summed across them.",
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="Where several workers keep their metrics (emptied at start); default: "
        "a folder in the system's temporary directory.",
    )
    access_log: bool = Field(default=True, description="One log line per request.")
    control: ControlConfig = Field(default_factory=ControlConfig)
    scheduling: SchedulingConfig = Field(default_factory=SchedulingConfig)
    tagging: TaggingConfig = Field(default_factory=TaggingConfig)
    sharing: SharingConfig = Field(default_factory=SharingConfig)
    embeddings: EmbeddingsSinkConfig = Field(
        default_factory=NoSinkConfig,
        description="Where 'embed the timeline' sends documents: none, directory or webhook.",
    )


class CloudConfig(FileSettings):
    model_config = SettingsConfigDict(env_prefix="SIDELINE_CLOUD_")

    environment: Literal["development", "production"] = "development"
    database_url: str = Field(
        default="sqlite:///sideline-data/cloud.db",
        description="sqlite:///path or postgresql://user:pass@host:port/db",
    )
    mqtt: CloudMqttConfig = Field(default_factory=CloudMqttConfig)
    s3: CloudS3Config = Field(default_factory=CloudS3Config)
    api: ApiConfig = Field(default_factory=ApiConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text lines, or one JSON object per line (request and message ids "
        "included) for a log collector.",
    )

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> CloudConfig:
        if self.environment != "production":
            return self
        if self.api.secret_key.get_secret_value() in _PLACEHOLDERS:
            raise ValueError(
                "api.secret_key is a placeholder; set a long random value "
                "(e.g. SIDELINE_CLOUD_API__SECRET_KEY=$(openssl rand -hex 32)) in production"
            )
        if not self.database_url.startswith("postgresql"):
            raise ValueError(
                "database_url must be PostgreSQL in production (SQLite is for one machine)"
            )
        return self


def load_cloud_config(path: Path | None) -> CloudConfig:
    return load_settings(CloudConfig, path)
