"""A session's timeline: logs, markers, clips, detection events and lifecycle
changes in one chronological stream, with keyset pagination.

A page is computed in two steps. First one ``UNION ALL`` of small keyset
queries, one per kind, each an index range scan on its table's ``(session,
time, id)`` index limited to the page size, returns the page's ``(kind, time,
id)`` keys in order. Then the page's rows are fetched by primary key, one query
per kind present. The cost is independent of how long the session is and of how
far into it the page is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from peewee import SQL, Database

from cloud.api.cursor import Cursor, Order, after, decode_cursor, encode_cursor, order_by
from cloud.api.rows import fk_id
from cloud.api.schemas.records import DetectionEventPublic
from cloud.api.schemas.timeline import (
    ClipItem,
    DetectionItem,
    LifecycleItem,
    LifecyclePublic,
    LogItem,
    TimelineItem,
    TimelineItemType,
)
from cloud.api.scope import OrgScope
from cloud.api.services.clips import clip_public, visible_clips
from cloud.api.services.logs import log_public, logs_query
from cloud.api.storage import ClipUrlSigner
from cloud.models import Clip, DetectionEventRecord, Log, Session, SessionTransition

__all__ = ["DETECTOR_SOURCE", "LIFECYCLE_SOURCE", "TimelineFilter", "timeline_page"]

T = TimelineItemType
DETECTOR_SOURCE = "detector"
LIFECYCLE_SOURCE = "user"
MARKER_SOURCE = "marker"


@dataclass(frozen=True)
class TimelineFilter:
    types: frozenset[TimelineItemType] = field(default_factory=frozenset)  # empty: all
    sources: frozenset[str] = field(default_factory=frozenset)  # empty: all
    device_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def wants(self, kind: TimelineItemType) -> bool:
        return not self.types or kind in self.types


@dataclass(frozen=True)
class _Kind:
    """One table's part of the timeline: its rows, time column and conditions."""

    name: str
    model: Any
    time: Any
    condition: Any


def _kinds(scope: OrgScope, session: Session, wanted: TimelineFilter) -> list[_Kind]:
    sources, device = wanted.sources, wanted.device_id
    kinds: list[_Kind] = []
    if wanted.wants(T.LOG) or wanted.wants(T.MARKER):
        condition = (
            (Log.session == session.id) & (Log.org == scope.org_id) & Log.deleted_at.is_null()
        )
        if not wanted.wants(T.MARKER):
            condition &= Log.source != MARKER_SOURCE
        elif not wanted.wants(T.LOG):
            condition &= Log.source == MARKER_SOURCE
        if sources:
            condition &= Log.source.in_(sorted(sources))
        if device is not None:
            condition &= Log.device == device
        kinds.append(_Kind("log", Log, Log.occurred_at, condition))
    if wanted.wants(T.CLIP):
        condition = visible_clips(scope) & (Clip.session == session.id)
        if sources:
            condition &= Clip.trigger_source.in_(sorted(sources))
        if device is not None:
            condition &= Clip.device == device
        kinds.append(_Kind("clip", Clip, Clip.started_at, condition))
    if wanted.wants(T.DETECTION) and (not sources or DETECTOR_SOURCE in sources):
        model = DetectionEventRecord
        condition = (model.session == session.id) & (model.org == scope.org_id)
        if device is not None:
            condition &= model.device == device
        kinds.append(_Kind("detection", model, model.occurred_at, condition))
    lifecycle_ok = not sources or LIFECYCLE_SOURCE in sources
    if wanted.wants(T.LIFECYCLE) and lifecycle_ok and device is None:
        condition = SessionTransition.session == session.id
        kinds.append(
            _Kind("lifecycle", SessionTransition, SessionTransition.occurred_at, condition)
        )
    return kinds


def _page_keys(
    db: Database,
    kinds: Sequence[_Kind],
    wanted: TimelineFilter,
    cursor: Cursor | None,
    order: Order,
    limit: int,
) -> list[tuple[str, UUID]]:
    parts: list[str] = []
    params: list[Any] = []
    for kind in kinds:
        condition = kind.condition
        if wanted.since is not None:
            condition &= kind.time >= wanted.since
        if wanted.until is not None:
            condition &= kind.time < wanted.until
        if cursor is not None:
            condition &= after(kind.time, kind.model.id, cursor, order)
        query = (
            kind.model.select(
                SQL(f"'{kind.name}'").alias("kind"), kind.time.alias("t"), kind.model.id.alias("i")
            )
            .where(condition)
            .order_by(*order_by(kind.time, kind.model.id, order))
            .limit(limit)
        )
        sql, query_params = query.sql()
        parts.append(f"SELECT kind, t, i FROM ({sql}) AS {kind.name}_keys")
        params.extend(query_params)
    direction = "ASC" if order is Order.ASC else "DESC"
    statement = (
        " UNION ALL ".join(parts) + f" ORDER BY t {direction}, i {direction} LIMIT {int(limit)}"
    )
    return [(kind, _uuid(ident)) for kind, _, ident in db.execute_sql(statement, params).fetchall()]


def _uuid(value: Any) -> UUID:
    if isinstance(value, UUID):
        return value
    text = str(value)
    return UUID(hex=text) if len(text) == 32 else UUID(text)


def timeline_page(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    wanted: TimelineFilter,
    order: Order,
    cursor: str | None,
    limit: int,
    signer: ClipUrlSigner | None,
) -> tuple[list[TimelineItem], str | None]:
    listing = f"timeline:{order.value}"
    position = decode_cursor(cursor, listing=listing) if cursor is not None else None
    kinds = _kinds(scope, session, wanted)
    if not kinds:
        return [], None
    keys = _page_keys(db, kinds, wanted, position, order, limit + 1)
    has_more = len(keys) > limit
    keys = keys[:limit]
    items = _load(keys, signer)
    next_cursor = None
    if has_more and items:
        last = items[-1]
        next_cursor = encode_cursor(Cursor(last.timestamp, last.id, listing))
    return items, next_cursor


def _load(keys: Sequence[tuple[str, UUID]], signer: ClipUrlSigner | None) -> list[TimelineItem]:
    wanted: dict[str, list[UUID]] = {}
    for kind, ident in keys:
        wanted.setdefault(kind, []).append(ident)
    built: dict[UUID, TimelineItem] = {}
    if "log" in wanted:
        for row in logs_query().where(Log.id.in_(wanted["log"])):
            built[row.id] = _log_item(row)
    if "clip" in wanted:
        for row in Clip.select().where(Clip.id.in_(wanted["clip"])):
            built[row.id] = _clip_item(row, signer)
    if "detection" in wanted:
        model = DetectionEventRecord
        for row in model.select().where(model.id.in_(wanted["detection"])):
            built[row.id] = _detection_item(row)
    if "lifecycle" in wanted:
        rows = SessionTransition.select().where(SessionTransition.id.in_(wanted["lifecycle"]))
        for row in rows:
            built[row.id] = _lifecycle_item(row)
    return [built[ident] for _, ident in keys if ident in built]


def _log_item(row: Log) -> LogItem:
    marker = row.origin == "device" and row.source == MARKER_SOURCE
    return LogItem(
        id=row.id,
        type="marker" if marker else "log",
        timestamp=row.occurred_at,
        source=row.source,
        device_id=fk_id(row, "device"),
        camera_id=row.camera_id,
        data=log_public(row),
    )


def _clip_item(row: Clip, signer: ClipUrlSigner | None) -> ClipItem:
    return ClipItem(
        id=row.id,
        type="clip",
        timestamp=row.started_at,
        source=row.trigger_source,
        device_id=fk_id(row, "device"),
        camera_id=row.camera_id,
        data=clip_public(row, signer),
    )


def _detection_item(row: DetectionEventRecord) -> DetectionItem:
    return DetectionItem(
        id=row.id,
        type="detection",
        timestamp=row.occurred_at,
        source=DETECTOR_SOURCE,
        device_id=fk_id(row, "device"),
        camera_id=row.camera_id,
        data=DetectionEventPublic(
            id=row.id,
            session_id=fk_id(row, "session"),
            device_id=fk_id(row, "device"),
            camera_id=row.camera_id,
            occurred_at=row.occurred_at,
            kind=row.kind,
            label=row.label,
            track_id=row.track_id,
            zone=row.zone,
            count=row.count,
            score=row.score,
            box=row.box,
            rule=row.rule,
            clip_id=row.clip_id,
            data=row.data or {},
        ),
    )


def _lifecycle_item(row: SessionTransition) -> LifecycleItem:
    return LifecycleItem(
        id=row.id,
        type="lifecycle",
        timestamp=row.occurred_at,
        source=LIFECYCLE_SOURCE,
        device_id=None,
        camera_id=None,
        data=LifecyclePublic(
            id=row.id,
            from_status=row.from_status,
            to_status=row.to_status,
            occurred_at=row.occurred_at,
            by_user_id=fk_id(row, "by_user"),
            reason=row.reason,
        ),
    )
