"""Configuration of the links to the cloud: MQTT and S3."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from sideline.settings import Section

__all__ = ["MqttConfig", "S3Config"]


class MqttConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    prefix: str = Field(default="sideline", description="First topic level(s).")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="MQTT v5 session kept by the broker while offline."
    )


class S3Config(Section):
    endpoint_url: str | None = Field(default=None, description="Empty: AWS S3.")
    region: str = "us-east-1"
    bucket: str = Field(default="sideline-clips", min_length=3, max_length=63)
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    bandwidth_limit_kbps: int | None = Field(
        default=None, gt=0, description="Cap uploads on metered links (LTE)."
    )
