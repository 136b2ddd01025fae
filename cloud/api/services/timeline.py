"""A session's timeline: logs, markers, clips, detection events and lifecycle
changes in one chronological stream, with keyset pagination.

A page is computed in two steps. First one query finds the page's ``(kind,
time, id)`` keys in order (:mod:`cloud.api.services.timeline_keys`: an index
range scan per table, limited to the page size). Then the page's rows are read
by primary key, one query per kind present, as plain dicts. The cost is
independent of how long the session is and of how far into it the page is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from peewee import Database

from cloud.api.cursor import Cursor, Order, decode_cursor, encode_cursor
from cloud.api.prepared import PreparedSelect
from cloud.api.schemas.timeline import (
    ClipItem,
    DetectionItem,
    LifecycleItem,
    LogItem,
    TimelineItem,
)
from cloud.api.scope import OrgScope
from cloud.api.services.clips import clip_public, clips_query
from cloud.api.services.logs import logs_query
from cloud.api.services.timeline_keys import (
    DETECTOR_SOURCE,
    LIFECYCLE_SOURCE,
    MARKER_SOURCE,
    TimelineFilter,
    keys_statement,
)
from cloud.api.storage import ClipUrlSigner
from cloud.models import Clip, DetectionEventRecord, Log, LogOrigin, Session, SessionTransition

__all__ = [
    "DETECTOR_SOURCE",
    "LIFECYCLE_SOURCE",
    "TimelineFilter",
    "timeline_keys_statement",
    "timeline_page",
]


def _listing(order: Order) -> str:
    return f"timeline:{order.value}"


def timeline_keys_statement(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    wanted: TimelineFilter,
    order: Order,
    cursor: str | None,
    limit: int,
) -> tuple[str, list[Any]] | None:
    """The first query of :func:`timeline_page` (for EXPLAIN in the benchmark)."""
    position = decode_cursor(cursor, listing=_listing(order)) if cursor is not None else None
    return keys_statement(
        db,
        org_id=scope.org_id,
        session_id=session.id,
        wanted=wanted,
        cursor=position,
        order=order,
        limit=limit + 1,
    )


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
    statement = timeline_keys_statement(
        db, scope=scope, session=session, wanted=wanted, order=order, cursor=cursor, limit=limit
    )
    if statement is None:
        return [], None
    rows = db.execute_sql(*statement).fetchall()
    keys = [(kind, str(_uuid(ident))) for kind, _, ident in rows]
    has_more = len(keys) > limit
    items = _load(db, keys[:limit], signer)
    next_cursor = None
    if has_more and items:
        last = items[-1]
        next_cursor = encode_cursor(Cursor(last.timestamp, last.id, _listing(order)))
    return items, next_cursor


def _uuid(value: Any) -> UUID:
    if isinstance(value, UUID):
        return value
    text = str(value)
    return UUID(hex=text) if len(text) == 32 else UUID(text)


def _detection_columns() -> Any:
    model = DetectionEventRecord
    return model.select(
        model.id,
        model.session.alias("session_id"),
        model.device.alias("device_id"),
        model.camera_id,
        model.occurred_at,
        model.kind,
        model.label,
        model.track_id,
        model.zone,
        model.count,
        model.score,
        model.box,
        model.rule,
        model.clip_id,
        model.data,
    )


def _lifecycle_columns() -> Any:
    return SessionTransition.select(
        SessionTransition.id,
        SessionTransition.from_status,
        SessionTransition.to_status,
        SessionTransition.occurred_at,
        SessionTransition.by_user.alias("by_user_id"),
        SessionTransition.reason,
    )


def _by_ids(select: Any, id_field: Any) -> PreparedSelect:
    return PreparedSelect(lambda p: select().where(id_field.in_(p.many("ids", id_field))))


_ROWS = {
    "log": _by_ids(logs_query, Log.id),
    "clip": _by_ids(clips_query, Clip.id),
    "detection": _by_ids(_detection_columns, DetectionEventRecord.id),
    "lifecycle": _by_ids(_lifecycle_columns, SessionTransition.id),
}


def _load(
    db: Database, keys: Sequence[tuple[str, str]], signer: ClipUrlSigner | None
) -> list[TimelineItem]:
    wanted: dict[str, list[str]] = {}
    for kind, ident in keys:
        wanted.setdefault(kind, []).append(ident)
    built: dict[str, TimelineItem] = {}
    for kind, ids in wanted.items():
        for row in _ROWS[kind].rows(db, ids=ids):
            if kind == "log":
                built[row["id"]] = _log_item(row)
            elif kind == "clip":
                built[row["id"]] = _clip_item(row, signer)
            elif kind == "detection":
                built[row["id"]] = _detection_item(row)
            else:
                built[row["id"]] = _lifecycle_item(row)
    return [built[ident] for _, ident in keys if ident in built]


def _log_item(row: Mapping[str, Any]) -> LogItem:
    marker = row["origin"] == LogOrigin.DEVICE and row["source"] == MARKER_SOURCE
    return LogItem.model_validate(
        {
            "id": row["id"],
            "type": "marker" if marker else "log",
            "timestamp": row["occurred_at"],
            "source": row["source"],
            "device_id": row["device_id"],
            "camera_id": row["camera_id"],
            "data": row,
        }
    )


def _clip_item(row: Mapping[str, Any], signer: ClipUrlSigner | None) -> ClipItem:
    return ClipItem(
        id=row["id"],
        type="clip",
        timestamp=row["started_at"],
        source=row["trigger_source"],
        device_id=row["device_id"],
        camera_id=row["camera_id"],
        data=clip_public(dict(row), signer),
    )


def _detection_item(row: Mapping[str, Any]) -> DetectionItem:
    return DetectionItem.model_validate(
        {
            "id": row["id"],
            "type": "detection",
            "timestamp": row["occurred_at"],
            "source": DETECTOR_SOURCE,
            "device_id": row["device_id"],
            "camera_id": row["camera_id"],
            "data": {**row, "data": row["data"] or {}},
        }
    )


def _lifecycle_item(row: Mapping[str, Any]) -> LifecycleItem:
    return LifecycleItem.model_validate(
        {
            "id": row["id"],
            "type": "lifecycle",
            "timestamp": row["occurred_at"],
            "source": LIFECYCLE_SOURCE,
            "device_id": None,
            "camera_id": None,
            "data": row,
        }
    )
