"""A session's timeline as documents for an AI index ("Embed Current Timeline", 003).

Each timeline item becomes one :class:`TimelineDocument`: the item's full data,
the session it belongs to, and a one-line ``text`` summary in which roster ids
are replaced by the players' names (what a search or chat model can use).
Presigned URLs are left out: they expire long before an index is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.query.cursor import Order
from cloud.api.query.rows import fk_id
from cloud.api.schemas.timeline import (
    ClipItem,
    DetectionItem,
    LifecycleItem,
    LogItem,
    SessionRef,
    TimelineDocument,
    TimelineItem,
)
from cloud.api.services.timeline import TimelineFilter, as_models, timeline_page
from cloud.models import Session, TeamMember

__all__ = ["iter_documents", "summarise"]

_PAGE = 500


def _roster_names(team_id: UUID | None) -> dict[str, str]:
    if team_id is None:
        return {}
    rows = TeamMember.select(TeamMember.id, TeamMember.display_name).where(
        TeamMember.team == team_id
    )
    return {str(row.id): row.display_name for row in rows}


def _value(value: Any, names: dict[str, str]) -> str:
    if isinstance(value, list):
        return ", ".join(_value(item, names) for item in value)
    text = str(value)
    return names.get(text, text)


def summarise(item: TimelineItem, names: dict[str, str]) -> str:
    at = item.timestamp.strftime("%Y-%m-%d %H:%M:%S UTC")
    where = f" on {item.device_id}/{item.camera_id}" if item.device_id else ""
    if isinstance(item, LogItem):
        values = "; ".join(
            f"{key}: {_value(value, names)}" for key, value in item.data.data.items()
        )
        kind = "marker" if item.type == "marker" else f"{item.data.source} log '{item.data.type}'"
        return f"{at} {kind}{where}" + (f" - {values}" if values else "")
    if isinstance(item, ClipItem):
        clip = item.data
        title = f" '{clip.title}'" if clip.title else ""
        notes = [str(t.get("note")) for t in clip.triggers if t.get("note")]
        tags = f"; tags: {', '.join(clip.tags)}" if clip.tags else ""
        note = f"; note: {' / '.join(notes)}" if notes else ""
        seconds = clip.duration_ms / 1000
        return f"{at} clip{title}{where}, {seconds:.1f} s, triggered by {clip.trigger_source}{note}{tags}"
    if isinstance(item, DetectionItem):
        event = item.data
        zone = f" in zone {event.zone}" if event.zone else ""
        count = f" (count {event.count})" if event.count is not None else ""
        return f"{at} detection {event.kind} {event.label}{zone}{count}{where}"
    assert isinstance(item, LifecycleItem)
    change = item.data
    before = change.from_status.value if change.from_status else "created"
    reason = f" ({change.reason})" if change.reason else ""
    return f"{at} session {before} -> {change.to_status.value}{reason}"


def iter_documents(
    db: Database, *, scope: OrgScope, session: Session, wanted: TimelineFilter | None = None
) -> Iterator[TimelineDocument]:
    """Every item of the timeline, oldest first, page by page (constant memory)."""
    ref = SessionRef(
        id=session.id,
        org=scope.org.slug,
        title=session.title,
        type=session.type,
        status=session.status,
        team_id=fk_id(session, "team"),
        started_at=session.started_at,
        ended_at=session.ended_at,
    )
    names = _roster_names(fk_id(session, "team"))
    cursor: str | None = None
    while True:
        items, cursor = timeline_page(
            db,
            scope=scope,
            session=session,
            wanted=wanted or TimelineFilter(),
            order=Order.ASC,
            cursor=cursor,
            limit=_PAGE,
            signer=None,
        )
        for item in as_models(items):
            yield TimelineDocument(id=item.id, session=ref, text=summarise(item, names), item=item)
        if cursor is None:
            return
