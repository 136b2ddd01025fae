"""The API's own config sections: device commands and the timeline's embeddings sink.

Command acknowledgements are recorded by the ingest (``cloud.devices.commands.record_ack``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr

from core.settings import Section

__all__ = [
    "ControlConfig",
    "DirectorySinkConfig",
    "EmbeddingsSinkConfig",
    "NoSinkConfig",
    "SchedulingConfig",
    "SharingConfig",
    "TaggingConfig",
    "WebhookSinkConfig",
]


class ControlConfig(Section):
    command_ttl_s: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description="A phone-triggered clip command expires this long after it was issued; "
        "a device that gets it later refuses it.",
    )
    publish_wait_s: float = Field(
        default=5.0, gt=0, le=60, description="How long to wait for the broker's PUBACK."
    )


class TaggingConfig(Section):
    """Bounds on the clips logs, ranges and re-trims ask boxes for (docs/tagging.md).

    Keep them within the boxes' own: ``clips.max_post_seconds`` (how far ahead a range
    may end) and ``recording.max_range_seconds``. A box that reported smaller limits in
    its status is held to those.
    """

    max_lead_s: float = Field(
        default=300.0, ge=0, le=3600, description="Longest lead (seconds before the moment)."
    )
    max_lag_s: float = Field(
        default=60.0, ge=0, le=600, description="Longest lag (seconds after it)."
    )
    max_range_s: float = Field(
        default=600.0, gt=0, le=3600, description="Longest range clip (and lead + lag)."
    )
    future_slack_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How far past the API's clock a moment (occurred_at, a range's start) "
        "may lie: the phone's clock may run a little ahead.",
    )


class SharingConfig(Section):
    default_days: float = Field(
        default=7.0, gt=0, le=365, description="A share link expires after this by default."
    )
    max_days: float = Field(default=90.0, gt=0, le=3650, description="The longest expiry.")


class NoSinkConfig(Section):
    kind: Literal["none"] = "none"


class DirectorySinkConfig(Section):
    """Write each timeline item as ``{dir}/{org}/{session}/{item}.json`` (plus a JSONL file)."""

    kind: Literal["directory"] = "directory"
    path: Path = Field(description="Folder the documents are written under.")


class WebhookSinkConfig(Section):
    """POST batches of documents as JSON Lines to an embeddings service."""

    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://", description="Where to POST application/x-ndjson.")
    token: SecretStr | None = Field(default=None, description="Sent as a bearer token.")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=3, ge=0, le=10, description="On connection errors and 5xx.")


EmbeddingsSinkConfig = Annotated[
    NoSinkConfig | DirectorySinkConfig | WebhookSinkConfig, Field(discriminator="kind")
]


class SchedulingConfig(Section):
    """Recurring series, and the API's scheduling jobs (docs/scheduling.md)."""

    horizon_days: int = Field(
        default=365,
        ge=7,
        le=3 * 366,
        description="Open-ended series exist as sessions this far ahead; a job extends them.",
    )
    jobs: bool = Field(
        default=True,
        description="Run the scheduling jobs in the API process (extend series, start and end "
        "auto-start sessions, deliver webhooks). Safe in several API processes at once; turn "
        "off to run them only with `sideline cloud jobs`.",
    )
    jobs_interval_s: float = Field(
        default=10.0, gt=0, le=600, description="How often the jobs look for work."
    )
