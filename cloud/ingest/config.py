"""The ingest workers' settings (``[ingest]`` in the cloud config)."""

from __future__ import annotations

from pydantic import Field

from core.settings import Section
from protocol.ids import Segment

__all__ = ["ClipVerifyConfig", "IngestConfig"]


class ClipVerifyConfig(Section):
    """How clip records are checked against the object store before they show."""

    first_delay_s: float = Field(
        default=1.0, gt=0, le=600, description="Wait before re-checking a missing object."
    )
    max_delay_s: float = Field(
        default=60.0, gt=0, le=3600, description="Cap of the doubling delay between checks."
    )
    give_up_after_s: float = Field(
        default=900.0,
        gt=0,
        le=7 * 24 * 3600,
        description="A clip whose object is still missing or wrong after this is marked failed.",
    )
    download_limit_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=0,
        description="Hash the object by downloading it when it carries no SHA-256, up to this size.",
    )
    batch: int = Field(default=50, ge=1, le=500, description="Clips checked per round.")


class IngestConfig(Section):
    worker_id: Segment | None = Field(
        default=None,
        description=(
            "Stable MQTT client id suffix: the broker keeps this worker's session and "
            "re-delivers unacknowledged messages when it restarts. Empty: host and pid, "
            "no persistent session (un-receipted records are then re-sent by devices)."
        ),
    )
    session_expiry_s: int = Field(
        default=3600, ge=0, le=7 * 24 * 3600, description="Broker-side session kept for worker_id."
    )
    receive_maximum: int = Field(
        default=100,
        ge=1,
        le=65535,
        description="Unacknowledged QoS 1 messages the broker may send this worker at once.",
    )
    writers: int = Field(
        default=2,
        ge=1,
        le=16,
        description=(
            "Writer threads, each with its own database connection: one writes while "
            "another prepares. A device's status messages always go to the same writer."
        ),
    )
    max_messages_per_transaction: int = Field(default=50, ge=1, le=10_000)
    max_records_per_transaction: int = Field(default=10_000, ge=1, le=1_000_000)
    dead_letter_payload_bytes: int = Field(
        default=64 * 1024, ge=0, le=1024 * 1024, description="Raw payload kept per dead letter."
    )
    poison_after_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description=(
            "A message the broker re-delivers after this many starts that never finished "
            "(the worker was killed or hung inside it) is set aside as a 'poison' dead "
            "letter, and its records refused in the receipt, instead of being tried again."
        ),
    )
    dead_letter_retention_s: float = Field(
        default=30 * 24 * 3600, gt=0, description="Dead letters older than this are deleted."
    )
    dead_letter_max_rows: int = Field(
        default=100_000, ge=1, description="At most this many dead letters are kept (newest)."
    )
    heartbeat_history_s: float = Field(
        default=24 * 3600, gt=0, description="Heartbeat samples kept per device (age)."
    )
    heartbeat_history_max: int = Field(
        default=5000, ge=1, description="Heartbeat samples kept per device (count)."
    )
    stats_interval_s: float = Field(default=60.0, gt=0, description="Log the counters this often.")
    http_host: str = Field(
        default="127.0.0.1", description="Address of the worker's /healthz, /readyz and /metrics."
    )
    http_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of /healthz, /readyz and /metrics (one per worker; 0: any free port). "
        "Unset: no endpoint.",
    )
    fleet_metrics_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the fleet gauges (devices online, backlogs) are read from "
        "device_status.",
    )
    stale_heartbeat_s: float = Field(
        default=90.0,
        gt=0,
        description="An online device without a heartbeat for this long counts as stale.",
    )
    verify: ClipVerifyConfig = Field(default_factory=ClipVerifyConfig)
