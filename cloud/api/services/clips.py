"""Clips of a session: listed with presigned URLs; coaches title, tag and delete them.

Only *visible* clips exist here: ``status = 'ready'`` (the ingest found the
object with the recorded size and SHA-256) and not deleted.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.query.cursor import Order, keyset, paginate
from cloud.api.schemas.records import ClipPublic, ClipUpdate
from cloud.db import write_transaction
from cloud.errors import NotFound
from cloud.models import Clip, ClipStatus, Session, utc_now
from cloud.object_store import ClipUrlSigner

__all__ = [
    "ClipRow",
    "clip_data",
    "clip_public",
    "clips_query",
    "delete_clip",
    "get_clip",
    "list_clips",
    "update_clip",
    "visible_clips",
]


def visible_clips(scope: OrgScope) -> Any:
    return (
        (Clip.org == scope.org_id) & (Clip.status == ClipStatus.READY) & Clip.deleted_at.is_null()
    )


ClipRow = dict[str, Any]
"""A clip as :func:`clips_query` reads it: :class:`ClipPublic`'s fields and the object keys."""


def clips_query() -> Any:
    return Clip.select(
        Clip.id,
        Clip.session.alias("session_id"),
        Clip.device.alias("device_id"),
        Clip.camera_id,
        Clip.started_at,
        Clip.ended_at,
        Clip.duration_ms,
        Clip.width,
        Clip.height,
        Clip.codec,
        Clip.content_type,
        Clip.size_bytes,
        Clip.status,
        Clip.failure_reason,
        Clip.trigger_source,
        Clip.triggered_at,
        Clip.triggers,
        Clip.command.alias("command_id"),
        Clip.title,
        Clip.tags,
        Clip.object_key,
        Clip.thumbnail_key,
        Clip.log_id,
        Clip.replaces_id,
        Clip.replaced_by_id,
        Clip.clock_offset_ms,
        Clip.clock_skew_ms,
    ).dicts()


_CLIP_FIELDS = tuple(ClipPublic.model_fields)


def clip_data(
    row: ClipRow, signer: ClipUrlSigner | None, *, expires_in: int | None = None
) -> dict[str, Any]:
    """:class:`ClipPublic`'s fields as plain data (for JSON as it is, or a model),
    with presigned playback and thumbnail URLs (valid ``expires_in`` s, else the default;
    only for a ready clip: a failed one has none)."""
    if row["status"] != ClipStatus.READY:
        signer = None
    playback = (
        signer.sign(row["object_key"], content_type=row["content_type"], expires_in=expires_in)
        if signer
        else None
    )
    thumbnail_key = row["thumbnail_key"]
    thumbnail = (
        signer.sign(thumbnail_key, content_type="image/jpeg", expires_in=expires_in)
        if signer is not None and thumbnail_key
        else None
    )
    derived = {
        "triggers": row["triggers"] or [],
        "tags": row["tags"] or [],
        "playback_url": playback.url if playback else None,
        "thumbnail_url": thumbnail.url if thumbnail else None,
        "urls_expire_at": playback.expires_at if playback else None,
        "logs": row.get("logs") or [],
    }
    return {name: derived[name] if name in derived else row[name] for name in _CLIP_FIELDS}


def clip_public(row: ClipRow, signer: ClipUrlSigner | None) -> ClipPublic:
    return ClipPublic.model_validate(clip_data(row, signer))


def list_clips(
    *, scope: OrgScope, session: Session, cursor: str | None, limit: int
) -> tuple[list[ClipRow], str | None]:
    # Current trims only: a clip a re-trim replaced stays readable by its id.
    query = clips_query().where(
        visible_clips(scope) & (Clip.session == session.id) & Clip.replaced_by_id.is_null()
    )
    return paginate(
        keyset(query, Clip.started_at, Clip.id, Order.ASC),
        listing="clips:asc",
        cursor=cursor,
        limit=limit,
        key=lambda row: (row["started_at"], row["id"]),
    )


def get_clip(*, scope: OrgScope, session: Session, clip_id: UUID) -> ClipRow:
    condition = visible_clips(scope) & (Clip.session == session.id) & (Clip.id == clip_id)
    row: ClipRow | None = clips_query().where(condition).first()
    if row is None:
        raise NotFound("clip", clip_id)
    return row


def update_clip(
    db: Database, *, scope: OrgScope, session: Session, clip: ClipRow, data: ClipUpdate
) -> ClipRow:
    changes = data.model_dump(exclude_unset=True)
    if "tags" in changes:
        tags = changes["tags"] or []
        changes["tags"] = list(dict.fromkeys(tags))  # unique, in the order given
    if changes:
        with write_transaction(db):
            Clip.update(changes).where(Clip.id == clip["id"]).execute()
    return get_clip(scope=scope, session=session, clip_id=clip["id"])


def delete_clip(db: Database, *, scope: OrgScope, clip: ClipRow) -> None:
    """Soft delete: hidden everywhere, the object stays in the store (and can be restored)."""
    with write_transaction(db):
        Clip.update(deleted_at=utc_now(), deleted_by=scope.user_id).where(
            (Clip.id == clip["id"]) & Clip.deleted_at.is_null()
        ).execute()
