"""The session timeline: logs, markers, clips, detections and lifecycle in one stream."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from cloud.api.schemas.common import Output, PageInfo
from cloud.api.schemas.records import ClipPublic, DetectionEventPublic, LogPublic
from cloud.models import SessionStatus, SessionType

__all__ = [
    "ExportFormat",
    "LifecyclePublic",
    "SessionRef",
    "TimelineDocument",
    "TimelineItem",
    "TimelineItemType",
    "TimelinePublic",
    "TimelinePushResult",
]


class TimelineItemType(StrEnum):
    LOG = "log"  # a coach's log, or a device's system/detection log
    MARKER = "marker"  # a device log with source 'marker' (a coach's long press)
    CLIP = "clip"  # a verified clip
    DETECTION = "detection"  # a detection event
    LIFECYCLE = "lifecycle"  # the session was created, scheduled, started, ended, cancelled


class LifecyclePublic(Output):
    id: UUID
    from_status: SessionStatus | None
    to_status: SessionStatus
    occurred_at: datetime
    by_user_id: UUID | None
    reason: str | None


class _Item(Output):
    id: UUID
    timestamp: datetime = Field(description="When it happened: the timeline's order (003).")
    source: str = Field(
        description="log: its source (coach, marker, detection, system); clip: its trigger "
        "(button, lan, cloud, rule, manual); detection: detector; lifecycle: user."
    )
    device_id: str | None
    camera_id: str | None


class LogItem(_Item):
    type: Literal["log", "marker"]
    data: LogPublic


class ClipItem(_Item):
    type: Literal["clip"]
    data: ClipPublic


class DetectionItem(_Item):
    type: Literal["detection"]
    data: DetectionEventPublic


class LifecycleItem(_Item):
    type: Literal["lifecycle"]
    data: LifecyclePublic


TimelineItem = Annotated[
    LogItem | ClipItem | DetectionItem | LifecycleItem, Field(discriminator="type")
]


class TimelinePublic(PageInfo):
    data: list[TimelineItem]


class SessionRef(Output):
    id: UUID
    org: str
    title: str
    type: SessionType
    status: SessionStatus
    team_id: UUID | None
    started_at: datetime | None
    ended_at: datetime | None


class TimelineDocument(Output):
    """One timeline item with its session, for an AI index ("Embed Current Timeline")."""

    id: UUID
    session: SessionRef
    text: str = Field(description="A one-line summary of the item, for embedding.")
    item: TimelineItem


class ExportFormat(StrEnum):
    JSONL = "jsonl"  # one document per line
    ZIP = "zip"  # one {id}.json per item


class TimelinePushResult(Output):
    sink: str = Field(description="The configured embeddings sink.")
    documents: int
    batches: int
    location: str | None = Field(description="Where the sink put them, when it can say.")
