"""Logs, clips and detection events as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, JsonValue, StringConstraints

from cloud.api.schemas.common import Input, Output, PageInfo, StoredJson
from cloud.models import ClipStatus, LogOrigin
from protocol.times import UtcDateTime

__all__ = [
    "ClipPublic",
    "ClipRequestPublic",
    "ClipUpdate",
    "ClipsPublic",
    "DetectionEventPublic",
    "LogCreate",
    "LogPublic",
    "LogRef",
    "LogUpdate",
    "LogsPublic",
]

Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class LogCreate(Input):
    """A coach's log entry, validated against the session's form version.

    When the session tags (its form has clip settings, or ``lead_s``/``lag_s`` are
    given), the log asks every device of the session for ``[occurred_at - lead,
    occurred_at + lag]``; ``occurred_at`` is then required: the moment the coach
    pressed, which comes seconds before the entry is submitted."""

    data: dict[str, JsonValue] = Field(description="Values keyed by the form's field keys.")
    type: str = Field(default="entry", min_length=1, max_length=64)
    occurred_at: UtcDateTime | None = Field(
        default=None, description="When it happened (the press). Empty: now; required to tag."
    )
    lead_s: float | None = Field(
        default=None, ge=0, description="Seconds of video before the moment (overrides the form)."
    )
    lag_s: float | None = Field(default=None, ge=0, description="Seconds after it.")


class LogUpdate(Input):
    """New values, validated against the version the log was written against."""

    data: dict[str, JsonValue] | None = None
    type: str | None = Field(default=None, min_length=1, max_length=64)
    occurred_at: UtcDateTime | None = None


class ClipUpdate(Input):
    title: str | None = Field(default=None, max_length=200)
    tags: list[Tag] | None = Field(default=None, max_length=50)


class LogRef(Output):
    """A log a clip's range holds."""

    id: UUID
    type: str
    source: str
    occurred_at: datetime


class ClipPublic(Output):
    id: UUID
    session_id: UUID | None
    device_id: str
    camera_id: str
    started_at: datetime = Field(description="003 startTime.")
    ended_at: datetime = Field(description="003 endTime.")
    duration_ms: int
    width: int
    height: int
    codec: str
    content_type: str
    size_bytes: int
    status: ClipStatus
    failure_reason: str | None = Field(
        description="Why a failed clip has no video (the box's reason, e.g. power lost "
        "before the clip was complete, or why its object did not check out)."
    )
    trigger_source: str = Field(description="button, lan, cloud (a phone), rule, manual.")
    triggered_at: datetime
    triggers: list[dict[str, StoredJson]]
    command_id: UUID | None
    title: str | None
    tags: list[str]
    playback_url: str | None = Field(description="Presigned GET of the MP4 (003 url).")
    thumbnail_url: str | None
    urls_expire_at: datetime | None
    log_id: UUID | None = Field(default=None, description="The log (tag) it was cut for.")
    replaces_id: UUID | None = Field(default=None, description="The clip this re-trim replaced.")
    replaced_by_id: UUID | None = Field(
        default=None, description="The re-trim that took its place (then it is history)."
    )
    clock_offset_ms: float | None = Field(
        default=None, description="The box's clock offset (its NTP view) when it was cut."
    )
    clock_skew_ms: float | None = Field(
        default=None,
        description="The box's clock against the cloud's, from its heartbeats, when the "
        "clip arrived: clips of boxes whose clocks differ this much are misaligned.",
    )
    logs: list[LogRef] = Field(default_factory=list, description="The logs inside its range.")


class ClipRequestPublic(Output):
    """A device asked for a log's clip: what it said."""

    command_id: UUID
    device_id: str
    camera_id: str | None = Field(description="Empty: every camera of the device.")
    progress: str = Field(
        description="sent, acknowledged, done, clip_uploaded, refused, failed, expired."
    )
    reason: str | None = Field(description="Why it was refused or failed.")
    replaces: UUID | None = Field(description="A re-trim: the clip it replaces.")
    clip_ids: list[UUID]
    issued_at: datetime


class ClipsPublic(PageInfo):
    data: list[ClipPublic]


class LogPublic(Output):
    id: UUID
    session_id: UUID | None
    origin: LogOrigin = Field(description="device (ingest) or api (the coach's logger).")
    source: str = Field(description="device: marker, detection, system; api: coach.")
    type: str
    occurred_at: datetime
    received_at: datetime
    device_id: str | None
    camera_id: str | None
    author_id: UUID | None
    form_id: UUID | None
    form_version: int | None
    data: dict[str, StoredJson]
    updated_at: datetime | None
    clip_lead_s: float | None = Field(
        default=None, description="A tag: seconds of video asked for before occurred_at."
    )
    clip_lag_s: float | None = Field(default=None, description="A tag: seconds after it.")
    clips: list[ClipPublic] = Field(
        default_factory=list, description="The clips cut for it (one per camera), current trim."
    )
    clip_requests: list[ClipRequestPublic] = Field(
        default_factory=list, description="Each device asked for its clips, and its answer."
    )


class LogsPublic(PageInfo):
    data: list[LogPublic]


class DetectionEventPublic(Output):
    id: UUID
    session_id: UUID | None
    device_id: str
    camera_id: str
    occurred_at: datetime
    kind: str
    label: str
    track_id: int | None
    zone: str | None
    count: int | None
    score: float | None
    box: list[float] | None
    rule: str | None
    clip_id: UUID | None
    data: dict[str, StoredJson]
