"""A session's timeline: logs, markers, clips, detection events and lifecycle
changes in one chronological stream, with keyset pagination.

A page is computed in two steps. First one query finds the page's ``(kind,
time, id)`` keys in order (:mod:`cloud.api.services.timeline_keys`: an index
range scan per table, limited to the page size). Then the page's rows are read
by primary key, one query per kind present, as plain dicts. The cost is
independent of how long the session is and of how far into it the page is.

Items are built as plain dicts holding exactly their schema's fields (ids as
canonical text, times as aware datetimes, enums): the listing serialises them
straight to JSON (:func:`page_json`), which costs a fraction of validating a
model per item and dumping it again; the export validates them into
:data:`TimelineItem` models (:func:`as_models`). A test checks, on both
databases, that the two give the same JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from peewee import Database
from pydantic import TypeAdapter
from pydantic_core import to_json

from cloud.api.access.scope import OrgScope
from cloud.api.query.cursor import Cursor, Order, decode_cursor, paginate
from cloud.api.query.prepared import PreparedSelect
from cloud.api.schemas.records import DetectionEventPublic, LogPublic
from cloud.api.schemas.timeline import LifecyclePublic, TimelineItem
from cloud.api.services.clips import clip_data, clips_query
from cloud.api.services.logs import logs_query
from cloud.api.services.tagging import attach_clips_to_logs, attach_logs_to_clips
from cloud.api.services.timeline_keys import (
    DETECTOR_SOURCE,
    LIFECYCLE_SOURCE,
    MARKER_SOURCE,
    TimelineFilter,
    folds_clips,
    keys_statement,
)
from cloud.models import (
    Clip,
    DetectionEventRecord,
    Log,
    LogOrigin,
    Session,
    SessionTransition,
    UtcDateTimeField,
)
from cloud.object_store import ClipUrlSigner

__all__ = [
    "DETECTOR_SOURCE",
    "LIFECYCLE_SOURCE",
    "TimelineFilter",
    "as_models",
    "page_json",
    "timeline_keys_statement",
    "timeline_page",
]

Item = dict[str, Any]
"""A timeline item as plain data: :data:`TimelineItem`'s fields, ready for JSON."""

_ITEM: TypeAdapter[TimelineItem] = TypeAdapter(TimelineItem)


def _listing(order: Order) -> str:
    return f"timeline:{order.value}"


_KeyStatement = Callable[[Cursor | None, int], tuple[str, list[Any]] | None]


def _keys_after(
    db: Database, *, scope: OrgScope, session: Session, wanted: TimelineFilter, order: Order
) -> _KeyStatement:
    """The statement for at most ``count`` keys after a position (None: nothing to read)."""

    def statement(position: Cursor | None, count: int) -> tuple[str, list[Any]] | None:
        return keys_statement(
            db,
            org_id=scope.org_id,
            session_id=session.id,
            wanted=wanted,
            cursor=position,
            order=order,
            limit=count,
        )

    return statement


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
    keys = _keys_after(db, scope=scope, session=session, wanted=wanted, order=order)
    return keys(position, limit + 1)


_KEY_TIME = UtcDateTimeField()


def _key_of(row: tuple[Any, ...]) -> tuple[datetime, UUID]:
    """A key row's ``(time, id)``: the raw column values, as the items carry them."""
    at = _KEY_TIME.python_value(row[1])
    assert at is not None  # every timeline kind's time column is NOT NULL
    return at, _uuid(row[2])


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
) -> tuple[list[Item], str | None]:
    """A page of items as plain data (:data:`Item`) and the cursor of the next one."""
    statement_after = _keys_after(db, scope=scope, session=session, wanted=wanted, order=order)

    def fetch_keys(position: Cursor | None, count: int) -> list[tuple[Any, ...]]:
        statement = statement_after(position, count)
        return [] if statement is None else list(db.execute_sql(*statement).fetchall())

    keys, next_cursor = paginate(
        fetch_keys,
        listing=_listing(order),
        cursor=cursor,
        limit=limit,
        key=_key_of,
    )
    items = _load(
        db,
        [(kind, str(_uuid(ident))) for kind, _, ident in keys],
        signer,
        org_id=scope.org_id,
        fold=folds_clips(wanted),
    )
    return items, next_cursor


def page_json(items: list[Item], next_cursor: str | None) -> bytes:
    """The JSON of :class:`~cloud.api.schemas.timeline.TimelinePublic` for a page."""
    return to_json({"count": len(items), "next_cursor": next_cursor, "data": items})


def as_models(items: list[Item]) -> list[TimelineItem]:
    """The page's items as :data:`TimelineItem` models (the export's documents wrap them)."""
    return [_ITEM.validate_python(item) for item in items]


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
    db: Database,
    keys: Sequence[tuple[str, str]],
    signer: ClipUrlSigner | None,
    *,
    org_id: UUID,
    fold: bool,
) -> list[Item]:
    wanted: dict[str, list[str]] = {}
    for kind, ident in keys:
        wanted.setdefault(kind, []).append(ident)
    built: dict[str, Item] = {}
    for kind, ids in wanted.items():
        rows = _ROWS[kind].rows(db, ids=ids)
        if kind == "log":
            # A tag is one item with its clips (which then are not items of their own).
            attach_clips_to_logs(rows, org_id=org_id, signer=signer if fold else None)
            if not fold:
                for row in rows:
                    row["clips"] = []
        elif kind == "clip":
            attach_logs_to_clips(rows, org_id=org_id)
        for row in rows:
            if kind == "log":
                built[row["id"]] = _log_item(row)
            elif kind == "clip":
                built[row["id"]] = _clip_item(row, signer)
            elif kind == "detection":
                built[row["id"]] = _detection_item(row)
            else:
                built[row["id"]] = _lifecycle_item(row)
    return [built[ident] for _, ident in keys if ident in built]


# Each item's ``data`` holds exactly its public schema's fields, in its order.
_LOG_FIELDS = tuple(LogPublic.model_fields)
_DETECTION_FIELDS = tuple(DetectionEventPublic.model_fields)
_LIFECYCLE_FIELDS = tuple(LifecyclePublic.model_fields)


def _item(
    row: Mapping[str, Any],
    kind: str,
    timestamp: Any,
    source: str,
    data: Item,
    *,
    on_device: bool = True,
) -> Item:
    return {
        "id": row["id"],
        "timestamp": timestamp,
        "source": source,
        "device_id": row["device_id"] if on_device else None,
        "camera_id": row["camera_id"] if on_device else None,
        "type": kind,
        "data": data,
    }


def _log_item(row: Mapping[str, Any]) -> Item:
    marker = row["origin"] == LogOrigin.DEVICE and row["source"] == MARKER_SOURCE
    data = {name: row[name] for name in _LOG_FIELDS}
    return _item(row, "marker" if marker else "log", row["occurred_at"], row["source"], data)


def _clip_item(row: Mapping[str, Any], signer: ClipUrlSigner | None) -> Item:
    data = clip_data(dict(row), signer)
    return _item(row, "clip", row["started_at"], row["trigger_source"], data)


def _detection_item(row: Mapping[str, Any]) -> Item:
    data = {name: row[name] for name in _DETECTION_FIELDS}
    data["data"] = data["data"] or {}
    return _item(row, "detection", row["occurred_at"], DETECTOR_SOURCE, data)


def _lifecycle_item(row: Mapping[str, Any]) -> Item:
    data = {name: row[name] for name in _LIFECYCLE_FIELDS}
    return _item(row, "lifecycle", row["occurred_at"], LIFECYCLE_SOURCE, data, on_device=False)
