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
    "ClipUpdate",
    "ClipsPublic",
    "DetectionEventPublic",
    "LogCreate",
    "LogPublic",
    "LogUpdate",
    "LogsPublic",
]

Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class LogCreate(Input):
    """A coach's log entry, validated against the session's form version."""

    data: dict[str, JsonValue] = Field(description="Values keyed by the form's field keys.")
    type: str = Field(default="entry", min_length=1, max_length=64)
    occurred_at: UtcDateTime | None = Field(default=None, description="Empty: now.")


class LogUpdate(Input):
    """New values, validated against the version the log was written against."""

    data: dict[str, JsonValue] | None = None
    type: str | None = Field(default=None, min_length=1, max_length=64)
    occurred_at: UtcDateTime | None = None


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


class LogsPublic(PageInfo):
    data: list[LogPublic]


class ClipUpdate(Input):
    title: str | None = Field(default=None, max_length=200)
    tags: list[Tag] | None = Field(default=None, max_length=50)


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
    trigger_source: str = Field(description="button, lan, cloud (a phone), rule, manual.")
    triggered_at: datetime
    triggers: list[dict[str, StoredJson]]
    command_id: UUID | None
    title: str | None
    tags: list[str]
    playback_url: str | None = Field(description="Presigned GET of the MP4 (003 url).")
    thumbnail_url: str | None
    urls_expire_at: datetime | None


class ClipsPublic(PageInfo):
    data: list[ClipPublic]


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
