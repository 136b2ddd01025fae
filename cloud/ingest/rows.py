"""Protocol records -> database rows, one spec per record kind.

A row is two parts: the **record part** (what the device sent: id, times, data)
and the **context part** (what the ingest adds: organisation, device, session,
the message and when it arrived). The record part depends on nothing but the
record, so it is encoded on the receiving thread while the writer waits for the
database (``cloud.ingest.bulk.RowEncoder``); the context part is the same for
most records of a message and is encoded once per message and session.

``time_of`` is the moment that places a record in a session's window.
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
    context_fields: Sequence[Field]
    record_fields: Sequence[Field]
    context_values: Callable[[RecordContext, UUID | None, UUID | None], tuple[Any, ...]]
    record_values: Callable[[Any], tuple[Any, ...]]
    time_of: Callable[[Any], datetime]

    @property
    def table(self) -> str:
        return str(self.model._meta.table_name)

    @property
    def fields(self) -> tuple[Field, ...]:
        """Column order of a whole row: context part, then record part."""
        return (*self.context_fields, *self.record_fields)

    def to_row(
        self, record: Any, ctx: RecordContext, session_id: UUID | None, command_id: UUID | None
    ) -> tuple[Any, ...]:
        return (*self.context_values(ctx, session_id, command_id), *self.record_values(record))


def _common_context(
    ctx: RecordContext, session_id: UUID | None, command_id: UUID | None
) -> tuple[Any, ...]:
    return (ctx.org_id, ctx.device_id, session_id, ctx.message_id, ctx.received_at)


def _common_context_fields(model: Any) -> tuple[Field, ...]:
    return (model.org, model.device, model.session, model.message_id, model.received_at)


LOG_SPEC = RecordSpec(
    kind="logs",
    model=Log,
    context_fields=(*_common_context_fields(Log), Log.origin),
    record_fields=(
        Log.id,
        Log.camera_id,
        Log.source,
        Log.type,
        Log.occurred_at,
        Log.data,
        Log.clip_lead_s,
        Log.clip_lag_s,
    ),
    context_values=lambda ctx, session, command: (
        *_common_context(ctx, session, command),
        LogOrigin.DEVICE,
    ),
    # StrEnum members are str: no .value lookups per row.
    record_values=lambda r: (
        r.id,
        r.camera_id,
        r.source,
        r.type,
        r.occurred_at,
        r.data,
        r.clip.lead_s if r.clip is not None else None,
        r.clip.lag_s if r.clip is not None else None,
    ),
    time_of=lambda record: record.occurred_at,
)


def _trigger_json(trigger: Trigger) -> dict[str, Any]:
    return trigger.model_dump(mode="json", exclude_none=True)


def _clip_values(record: ClipRecord) -> tuple[Any, ...]:
    # A failed clip (``record.failure``) has no object: its key and SHA-256 are stored
    # empty (the columns are NOT NULL); the writer marks it failed with its reason.
    first = record.triggers[0]
    return (
        record.id,
        record.camera_id,
        record.started_at,
        record.ended_at,
        record.duration_ms,
        record.frame_count,
        record.width,
        record.height,
        record.codec,
        record.content_type,
        record.object_key or "",
        record.thumbnail_key,
        record.size_bytes,
        record.sha256 or "",
        [_trigger_json(trigger) for trigger in record.triggers],
        first.source,
        first.at,
        record.log_id,
        record.replaces,
        record.clock_offset_ms,
    )


CLIP_SPEC = RecordSpec(
    kind="clips",
    model=Clip,
    context_fields=(
        *_common_context_fields(Clip),
        Clip.command,
        Clip.status,
        Clip.verify_attempts,
        Clip.next_verify_at,
        Clip.tags,
    ),
    record_fields=(
        Clip.id,
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
        Clip.log_id,
        Clip.replaces_id,
        Clip.clock_offset_ms,
    ),
    # Stored pending, to be checked at once (next_verify_at = when it arrived).
    context_values=lambda ctx, session, command: (
        *_common_context(ctx, session, command),
        command,
        ClipStatus.PENDING,
        0,
        ctx.received_at,
        [],
    ),
    record_values=_clip_values,
    # The moment the coach asked for, not the start of the pre-roll before it.
    time_of=lambda record: record.triggers[0].at,
)


def _event_values(r: DetectionEvent) -> tuple[Any, ...]:
    return (
        r.id,
        r.camera_id,
        r.occurred_at,
        r.kind,
        r.label,
        r.track_id,
        r.zone,
        r.count,
        r.score,
        list(r.box) if r.box is not None else None,
        r.rule,
        r.clip_id,
        r.data,
    )


EVENT_SPEC = RecordSpec(
    kind="events",
    model=DetectionEventRecord,
    context_fields=_common_context_fields(DetectionEventRecord),
    record_fields=(
        DetectionEventRecord.id,
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
    ),
    context_values=_common_context,
    record_values=_event_values,
    time_of=lambda record: record.occurred_at,
)

KIND_SPECS: dict[RecordKind, RecordSpec] = {
    spec.kind: spec for spec in (LOG_SPEC, CLIP_SPEC, EVENT_SPEC)
}

DeviceRecord = LogRecord | ClipRecord | DetectionEvent
