"""Protocol records -> database rows, one spec per record kind.

Rows are tuples in the order of ``fields`` (peewee's fastest ``insert_many``
form). ``time_of`` is the moment that places a record in a session's window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from peewee import Field

from cloud.models import Clip, ClipStatus, DetectionEventRecord, Log, LogOrigin
from cloud.models.base import BaseModel
from protocol import ClipRecord, DetectionEvent, LogRecord, RecordKind, Trigger

__all__ = ["KIND_SPECS", "RecordContext", "RecordSpec"]

DeviceRecord = LogRecord | ClipRecord | DetectionEvent


@dataclass(frozen=True, slots=True)
class RecordContext:
    """What the ingest adds to a device's record."""

    org_id: UUID
    device_id: str
    message_id: UUID | None
    received_at: datetime


@dataclass(frozen=True)
class RecordSpec:
    kind: RecordKind
    model: type[BaseModel]
    fields: Sequence[Field]
    to_row: Callable[[Any, RecordContext, UUID | None, UUID | None], tuple[Any, ...]]
    time_of: Callable[[Any], datetime]

    @property
    def table(self) -> str:
        return str(self.model._meta.table_name)


def _log_row(
    record: LogRecord, ctx: RecordContext, session_id: UUID | None, command_id: UUID | None
) -> tuple[Any, ...]:
    return (
        record.id,
        ctx.org_id,
        session_id,
        ctx.device_id,
        record.camera_id,
        LogOrigin.DEVICE.value,
        record.source.value,
        record.type,
        record.occurred_at,
        ctx.received_at,
        record.data,
        ctx.message_id,
    )


LOG_SPEC = RecordSpec(
    kind="logs",
    model=Log,
    fields=(
        Log.id,
        Log.org,
        Log.session,
        Log.device,
        Log.camera_id,
        Log.origin,
        Log.source,
        Log.type,
        Log.occurred_at,
        Log.received_at,
        Log.data,
        Log.message_id,
    ),
    to_row=_log_row,
    time_of=lambda record: record.occurred_at,
)


def _trigger_json(trigger: Trigger) -> dict[str, Any]:
    return trigger.model_dump(mode="json", exclude_none=True)


def _clip_row(
    record: ClipRecord, ctx: RecordContext, session_id: UUID | None, command_id: UUID | None
) -> tuple[Any, ...]:
    first = record.triggers[0]
    return (
        record.id,
        ctx.org_id,
        ctx.device_id,
        session_id,
        record.camera_id,
        record.started_at,
        record.ended_at,
        record.duration_ms,
        record.frame_count,
        record.width,
        record.height,
        record.codec,
        record.content_type,
        record.object_key,
        record.thumbnail_key,
        record.size_bytes,
        record.sha256,
        [_trigger_json(trigger) for trigger in record.triggers],
        first.source.value,
        first.at,
        command_id,
        ClipStatus.PENDING.value,
        0,
        ctx.received_at,  # next_verify_at: check at once
        ctx.message_id,
        ctx.received_at,
        [],
    )


CLIP_SPEC = RecordSpec(
    kind="clips",
    model=Clip,
    fields=(
        Clip.id,
        Clip.org,
        Clip.device,
        Clip.session,
        Clip.camera_id,
        Clip.started_at,
        Clip.ended_at,
        Clip.duration_ms,
        Clip.frame_count,
        Clip.width,
        Clip.height,
        Clip.codec,
        Clip.content_type,
        Clip.object_key,
        Clip.thumbnail_key,
        Clip.size_bytes,
        Clip.sha256,
        Clip.triggers,
        Clip.trigger_source,
        Clip.triggered_at,
        Clip.command,
        Clip.status,
        Clip.verify_attempts,
        Clip.next_verify_at,
        Clip.message_id,
        Clip.received_at,
        Clip.tags,
    ),
    to_row=_clip_row,
    # The moment the coach asked for, not the start of the pre-roll before it.
    time_of=lambda record: record.triggers[0].at,
)


def _event_row(
    record: DetectionEvent, ctx: RecordContext, session_id: UUID | None, command_id: UUID | None
) -> tuple[Any, ...]:
    return (
        record.id,
        ctx.org_id,
        ctx.device_id,
        session_id,
        record.camera_id,
        record.occurred_at,
        record.kind.value,
        record.label,
        record.track_id,
        record.zone,
        record.count,
        record.score,
        list(record.box) if record.box is not None else None,
        record.rule,
        record.clip_id,
        record.data,
        ctx.message_id,
        ctx.received_at,
    )


EVENT_SPEC = RecordSpec(
    kind="events",
    model=DetectionEventRecord,
    fields=(
        DetectionEventRecord.id,
        DetectionEventRecord.org,
        DetectionEventRecord.device,
        DetectionEventRecord.session,
        DetectionEventRecord.camera_id,
        DetectionEventRecord.occurred_at,
        DetectionEventRecord.kind,
        DetectionEventRecord.label,
        DetectionEventRecord.track_id,
        DetectionEventRecord.zone,
        DetectionEventRecord.count,
        DetectionEventRecord.score,
        DetectionEventRecord.box,
        DetectionEventRecord.rule,
        DetectionEventRecord.clip_id,
        DetectionEventRecord.data,
        DetectionEventRecord.message_id,
        DetectionEventRecord.received_at,
    ),
    to_row=_event_row,
    time_of=lambda record: record.occurred_at,
)

KIND_SPECS: dict[RecordKind, RecordSpec] = {
    spec.kind: spec for spec in (LOG_SPEC, CLIP_SPEC, EVENT_SPEC)
}
