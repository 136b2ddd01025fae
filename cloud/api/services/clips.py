"""Clips of a session: listed with presigned URLs; coaches title, tag and delete them.

Only *visible* clips exist here: ``status = 'ready'`` (the ingest found the
object with the recorded size and SHA-256) and not deleted.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from peewee import Database

from cloud.api.cursor import Cursor, Order, after, decode_cursor, encode_cursor, order_by
from cloud.api.errors import NotFound
from cloud.api.rows import fk_id
from cloud.api.schemas.records import ClipPublic, ClipUpdate
from cloud.api.scope import OrgScope
from cloud.api.storage import ClipUrlSigner
from cloud.api.transactions import write_transaction
from cloud.models import Clip, ClipStatus, Session, utc_now

__all__ = ["clip_public", "delete_clip", "get_clip", "list_clips", "update_clip", "visible_clips"]


def visible_clips(scope: OrgScope) -> Any:
    return (
        (Clip.org == scope.org_id) & (Clip.status == ClipStatus.READY) & Clip.deleted_at.is_null()
    )


def clip_public(row: Clip, signer: ClipUrlSigner | None) -> ClipPublic:
    playback = signer.sign(row.object_key, content_type=row.content_type) if signer else None
    thumbnail = (
        signer.sign(row.thumbnail_key, content_type="image/jpeg")
        if signer is not None and row.thumbnail_key
        else None
    )
    return ClipPublic(
        id=row.id,
        session_id=fk_id(row, "session"),
        device_id=fk_id(row, "device"),
        camera_id=row.camera_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_ms=row.duration_ms,
        width=row.width,
        height=row.height,
        codec=row.codec,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        status=row.status,
        trigger_source=row.trigger_source,
        triggered_at=row.triggered_at,
        triggers=row.triggers or [],
        command_id=fk_id(row, "command"),
        title=row.title,
        tags=row.tags or [],
        playback_url=playback.url if playback else None,
        thumbnail_url=thumbnail.url if thumbnail else None,
        urls_expire_at=playback.expires_at if playback else None,
    )


def list_clips(
    *, scope: OrgScope, session: Session, cursor: str | None, limit: int
) -> tuple[list[Clip], str | None]:
    listing = "clips:asc"
    condition = visible_clips(scope) & (Clip.session == session.id)
    if cursor is not None:
        condition &= after(
            Clip.started_at, Clip.id, decode_cursor(cursor, listing=listing), Order.ASC
        )
    rows = list(
        Clip.select()
        .where(condition)
        .order_by(*order_by(Clip.started_at, Clip.id, Order.ASC))
        .limit(limit + 1)
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(Cursor(rows[-1].started_at, rows[-1].id, listing))
    return rows, next_cursor


def get_clip(*, scope: OrgScope, session: Session, clip_id: UUID) -> Clip:
    row = Clip.get_or_none(
        visible_clips(scope) & (Clip.session == session.id) & (Clip.id == clip_id)
    )
    if row is None:
        raise NotFound("clip", clip_id)
    return row


def update_clip(db: Database, *, clip: Clip, data: ClipUpdate) -> Clip:
    changes = data.model_dump(exclude_unset=True)
    if "tags" in changes and changes["tags"] is not None:
        changes["tags"] = list(dict.fromkeys(changes["tags"]))  # unique, in the order given
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []
    if changes:
        with write_transaction(db):
            Clip.update(changes).where(Clip.id == clip.id).execute()
    return Clip.get_by_id(clip.id)


def delete_clip(db: Database, *, scope: OrgScope, clip: Clip) -> None:
    """Soft delete: hidden everywhere, the object stays in the store (and can be restored)."""
    with write_transaction(db):
        Clip.update(deleted_at=utc_now(), deleted_by=scope.user_id).where(
            (Clip.id == clip.id) & Clip.deleted_at.is_null()
        ).execute()
