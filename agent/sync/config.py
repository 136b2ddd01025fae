"""Configuration of the links to the cloud: MQTT, S3, and the sync rules between them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from core.settings import Section
from protocol import MAX_PAYLOAD_BYTES, MAX_RECORDS_PER_BATCH

__all__ = ["MqttConfig", "S3Config", "SchemaCheck", "SyncConfig"]


class SchemaCheck(StrEnum):
    """Full schema validation costs about as much as the ingest's own decode.

    ``on_resend`` validates only batches holding a row that was sent before and
    got no receipt, which is exactly when a bad row may be making the ingest
    dead-letter the batch; ``always`` validates every batch.
    """

    ALWAYS = "always"
    ON_RESEND = "on_resend"


class MqttConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = Field(
        default=None,
        max_length=128,
        description=(
            "Empty: the device id. Must stay the same for the broker to keep the session. "
            "The cloud's broker ignores it and uses the username (the device id)."
        ),
    )
    tls: bool = False
    ca_file: Path | None = Field(default=None, description="Empty with tls: the system CAs.")
    cert_file: Path | None = Field(default=None, description="Client certificate (mutual TLS).")
    key_file: Path | None = None
    prefix: str = Field(default="sideline", description="First topic level(s).")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="MQTT v5 session kept by the broker while offline."
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120)
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(
        default=120.0, gt=0, le=3600, description="Backoff ceiling (full jitter below it)."
    )

    @model_validator(mode="after")
    def _tls_files(self) -> MqttConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS) or not at all")
        if (self.ca_file or self.cert_file) and not self.tls:
            raise ValueError("ca_file/cert_file are set but tls is false")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class S3Config(Section):
    endpoint_url: str | None = Field(default=None, description="Empty: AWS S3.")
    region: str = "us-east-1"
    bucket: str = Field(default="sideline-clips", min_length=3, max_length=63)
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    addressing_style: str = Field(
        default="auto", pattern="^(auto|path|virtual)$", description="path for MinIO/SeaweedFS."
    )
    bandwidth_limit_kbps: int | None = Field(
        default=None, gt=0, description="Cap uploads on metered links (LTE)."
    )
    multipart_threshold_bytes: int = Field(
        default=16 * 1024**2, ge=5 * 1024**2, description="Files from this size go up in parts."
    )
    part_size_bytes: int = Field(
        default=8 * 1024**2,
        ge=5 * 1024**2,
        le=5 * 1024**3,
        description="S3 refuses parts under 5 MiB except the last.",
    )
    stale_upload_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="A multipart upload older than this is aborted and started over.",
    )
    timeout_s: float = Field(default=60.0, gt=0, le=600, description="Connect and read timeout.")

    @model_validator(mode="after")
    def _keys_together(self) -> S3Config:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together")
        return self


class SyncConfig(Section):
    """How records travel: batch sizes, the window of unreceipted messages, retries."""

    batch_max_records: int = Field(default=MAX_RECORDS_PER_BATCH, ge=1, le=MAX_RECORDS_PER_BATCH)
    batch_max_bytes: int = Field(
        default=MAX_PAYLOAD_BYTES // 2,
        ge=4096,
        le=MAX_PAYLOAD_BYTES - 4096,
        description="Payload budget per message, well under the protocol's limit.",
    )
    window_messages: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Unreceipted messages in flight per record kind (read from SQLite, "
        "so memory stays bounded however long the backlog).",
    )
    receipt_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="A message the broker accepted but the ingest did not receipt in this "
        "time is sent again.",
    )
    schema_check: SchemaCheck = Field(
        default=SchemaCheck.ON_RESEND,
        description="When to decode a batch with the full protocol schema before sending it "
        "(every batch is always checked to be well-formed JSON).",
    )
    upload_retry_min_s: float = Field(default=2.0, gt=0, le=600)
    upload_retry_max_s: float = Field(default=600.0, gt=0, le=24 * 3600)
    shutdown_drain_s: float = Field(
        default=5.0, ge=0, le=120, description="On stop, wait this long for acks and receipts."
    )
