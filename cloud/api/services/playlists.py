"""Playlists: named, ordered lists of clips across sessions.

Filled by hand (clip ids, in order), or from a filter over the organisation's
clips (a tag, a player, sessions, a time range) in time order; items can be
added, removed and reordered. An item shows its clip's current trim: when a
re-trim is verified, the playlist's item moves to the new clip
(:func:`cloud.tagging.promote_replacement`). A deleted clip drops out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast
from uuid import UUID

from peewee import JOIN, Database, fn

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.playlists import (
    MAX_ITEMS,
    PlaylistCreate,
    PlaylistFilter,
    PlaylistItemPublic,
    PlaylistItemsAdd,
    PlaylistOrder,
    PlaylistPublic,
    PlaylistSummary,
    PlaylistUpdate,
)
from cloud.api.services.clips import ClipRow, clip_public, clips_query, visible_clips
from cloud.db import write_transaction
from cloud.errors import FieldProblem, InvalidInput, NotFound
from cloud.models import Clip, Log, Playlist, PlaylistItem, Session, Team, TeamMember, utc_now
from cloud.object_store import ClipUrlSigner

__all__ = [
    "add_items",
    "create_playlist",
    "delete_playlist",
    "get_playlist",
    "list_playlists",
    "playlist_clips",
    "playlist_public",
    "remove_item",
    "reorder_items",
    "update_playlist",
]

_CANDIDATES = 5000  # clips looked at for one filter (the newest matches beyond are left out)


def get_playlist(*, scope: OrgScope, playlist_id: UUID) -> Playlist:
    found = Playlist.get_or_none(
        (Playlist.id == playlist_id)
        & (Playlist.org == scope.org_id)
        & Playlist.deleted_at.is_null()
    )
    if found is None:
        raise NotFound("playlist", playlist_id)
    return found


def _summary(playlist: Playlist, count: int) -> dict[str, Any]:
    return {
        "id": playlist.id,
        "title": playlist.title,
        "description": playlist.description,
        "source": playlist.source,
        "item_count": count,
        "created_at": playlist.created_at,
        "updated_at": playlist.updated_at,
    }


def _current_items(playlist_id: UUID) -> Any:
    """A playlist's items whose clips are still shown (not deleted), in order."""
    return (
        PlaylistItem.select(PlaylistItem, Clip.id)
        .join(Clip, on=(PlaylistItem.clip == Clip.id))
        .where((PlaylistItem.playlist == playlist_id) & Clip.deleted_at.is_null())
        .order_by(PlaylistItem.position, PlaylistItem.id)
    )


def list_playlists(*, scope: OrgScope) -> list[PlaylistSummary]:
    counts = (
        PlaylistItem.select(PlaylistItem.playlist, fn.COUNT(PlaylistItem.id).alias("n"))
        .join(Clip, on=(PlaylistItem.clip == Clip.id))
        .where(Clip.deleted_at.is_null())
        .group_by(PlaylistItem.playlist)
    )
    pairs = cast(Iterable[tuple[Any, int]], counts.tuples())
    by_playlist = {str(playlist_id): int(n) for playlist_id, n in pairs}
    rows = (
        Playlist.select()
        .where((Playlist.org == scope.org_id) & Playlist.deleted_at.is_null())
        .order_by(Playlist.created_at.desc(), Playlist.id.desc())
        .limit(500)
    )
    return [
        PlaylistSummary.model_validate(_summary(row, by_playlist.get(str(row.id), 0)))
        for row in rows
    ]


def playlist_clips(playlist: Playlist) -> list[tuple[PlaylistItem, ClipRow]]:
    """The items with their clips (as clip rows), in playing order."""
    items = list(_current_items(playlist.id))
    if not items:
        return []
    rows = {
        str(row["id"]): row
        for row in clips_query().where(Clip.id.in_([item.clip_id for item in items]))
    }
    return [(item, rows[str(item.clip_id)]) for item in items if str(item.clip_id) in rows]


def playlist_public(playlist: Playlist, signer: ClipUrlSigner | None) -> PlaylistPublic:
    pairs = playlist_clips(playlist)
    items = [
        PlaylistItemPublic(
            id=item.id, position=index, clip=clip_public(row, signer), added_at=item.added_at
        )
        for index, (item, row) in enumerate(pairs)
    ]
    return PlaylistPublic.model_validate({**_summary(playlist, len(items)), "items": items})


def _clips_of_org(scope: OrgScope, clip_ids: Sequence[UUID], *, path: str) -> list[UUID]:
    """``clip_ids`` checked to be this organisation's playable clips (404 naming the first
    that is not), each once, in the order given."""
    wanted = list(dict.fromkeys(clip_ids))
    found = {
        row.id
        for row in Clip.select(Clip.id).where(
            visible_clips(scope) & Clip.id.in_(wanted) if wanted else Clip.id.is_null()
        )
    }
    for index, clip_id in enumerate(clip_ids):
        if clip_id not in found:
            raise NotFound("clip", clip_id, path=f"{path}[{index}]")
    return list(dict.fromkeys(_current_trim(clip_id) for clip_id in wanted))


def _current_trim(clip_id: UUID) -> UUID:
    """The clip that shows ``clip_id`` now: itself, or the re-trim that replaced it."""
    for _ in range(20):
        replaced_by = Clip.select(Clip.replaced_by_id).where(Clip.id == clip_id).scalar()
        if replaced_by is None:
            return clip_id
        clip_id = replaced_by if isinstance(replaced_by, UUID) else UUID(str(replaced_by))
    return clip_id


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, str):
        return value.casefold() == wanted.casefold()
    if isinstance(value, list):
        return any(_matches(item, wanted) for item in value)
    return False


def _filtered(scope: OrgScope, fill: PlaylistFilter) -> list[UUID]:
    if fill.player_id is not None:
        member = (
            TeamMember.select(TeamMember.id)
            .join(Team)
            .where((TeamMember.id == fill.player_id) & (Team.org == scope.org_id))
            .first()
        )
        if member is None:
            raise NotFound("player", fill.player_id, path="body.fill.player_id")
    condition = visible_clips(scope) & Clip.replaced_by_id.is_null()
    if fill.session_ids:
        sessions = {
            row.id
            for row in Session.select(Session.id).where(
                Session.id.in_(fill.session_ids) & (Session.org == scope.org_id)
            )
        }
        for index, session_id in enumerate(fill.session_ids):
            if session_id not in sessions:
                raise NotFound("session", session_id, path=f"body.fill.session_ids[{index}]")
        condition &= Clip.session.in_(list(sessions))
    if fill.since is not None:
        condition &= Clip.started_at >= fill.since
    if fill.until is not None:
        condition &= Clip.started_at < fill.until
    rows = cast(
        Iterable[tuple[Any, Any, Any, Any]],
        Clip.select(Clip.id, Clip.tags, Log.type, Log.data)
        .join(Log, JOIN.LEFT_OUTER, on=((Clip.log_id == Log.id) & Log.deleted_at.is_null()))
        .where(condition)
        .order_by(Clip.started_at, Clip.id)
        .limit(_CANDIDATES)
        .tuples(),
    )
    chosen: list[UUID] = []
    for clip_id, tags, log_type, data in rows:
        values = list((data or {}).values())
        if fill.tag is not None and not (
            _matches(tags or [], fill.tag)
            or _matches(log_type or "", fill.tag)
            or any(_matches(value, fill.tag) for value in values)
        ):
            continue
        if fill.player_id is not None and not any(
            _matches(value, str(fill.player_id)) for value in values
        ):
            continue
        chosen.append(clip_id if isinstance(clip_id, UUID) else UUID(str(clip_id)))
        if len(chosen) >= MAX_ITEMS:
            break
    return chosen


def _insert(playlist_id: UUID, clip_ids: Iterable[UUID], *, at: int, by: UUID | None) -> int:
    present = {
        str(row.clip_id)
        for row in PlaylistItem.select(PlaylistItem.clip).where(
            PlaylistItem.playlist == playlist_id
        )
    }
    new = [clip_id for clip_id in clip_ids if str(clip_id) not in present]
    if not new:
        return 0
    if len(present) + len(new) > MAX_ITEMS:
        message = f"a playlist holds at most {MAX_ITEMS} clips"
        raise InvalidInput(message, fields=[FieldProblem("body.clip_ids", "too_many", message)])
    PlaylistItem.update(position=PlaylistItem.position + len(new)).where(
        (PlaylistItem.playlist == playlist_id) & (PlaylistItem.position >= at)
    ).execute()
    now = utc_now()
    PlaylistItem.insert_many(
        [
            {
                "playlist": playlist_id,
                "clip": clip_id,
                "position": at + offset,
                "added_by": by,
                "added_at": now,
            }
            for offset, clip_id in enumerate(new)
        ]
    ).execute()
    return len(new)


def _compact(playlist_id: UUID) -> None:
    """Positions 0..n-1 again, in the current order."""
    items = (
        PlaylistItem.select(PlaylistItem.id, PlaylistItem.position)
        .where(PlaylistItem.playlist == playlist_id)
        .order_by(PlaylistItem.position, PlaylistItem.id)
    )
    for index, item in enumerate(items):
        if item.position != index:
            PlaylistItem.update(position=index).where(PlaylistItem.id == item.id).execute()


def _touch(playlist_id: UUID) -> None:
    Playlist.update(updated_at=utc_now()).where(Playlist.id == playlist_id).execute()


def create_playlist(db: Database, *, scope: OrgScope, data: PlaylistCreate) -> Playlist:
    by_hand = _clips_of_org(scope, data.clip_ids, path="body.clip_ids")
    filled = _filtered(scope, data.fill) if data.fill is not None else []
    source = data.fill.model_dump(mode="json", exclude_none=True) if data.fill else None
    with write_transaction(db):
        playlist = Playlist.create(
            org=scope.org_id,
            title=data.title,
            description=data.description,
            source=source,
            created_by=scope.user_id,
        )
        _insert(playlist.id, [*by_hand, *filled], at=0, by=scope.user_id)
    return playlist


def update_playlist(
    db: Database, *, scope: OrgScope, playlist: Playlist, data: PlaylistUpdate
) -> Playlist:
    changes = data.model_dump(exclude_unset=True)
    if changes:
        with write_transaction(db):
            Playlist.update({**changes, "updated_at": utc_now()}).where(
                Playlist.id == playlist.id
            ).execute()
    return get_playlist(scope=scope, playlist_id=playlist.id)


def delete_playlist(db: Database, *, scope: OrgScope, playlist: Playlist) -> None:
    """Soft delete; its share links stop working."""
    with write_transaction(db):
        Playlist.update(deleted_at=utc_now()).where(Playlist.id == playlist.id).execute()


def add_items(
    db: Database, *, scope: OrgScope, playlist: Playlist, data: PlaylistItemsAdd
) -> Playlist:
    clip_ids = _clips_of_org(scope, data.clip_ids, path="body.clip_ids")
    with write_transaction(db):
        _compact(playlist.id)
        count = PlaylistItem.select().where(PlaylistItem.playlist == playlist.id).count()
        at = count if data.position is None else min(data.position, count)
        _insert(playlist.id, clip_ids, at=at, by=scope.user_id)
        _touch(playlist.id)
    return playlist


def reorder_items(
    db: Database, *, scope: OrgScope, playlist: Playlist, data: PlaylistOrder
) -> Playlist:
    with write_transaction(db):
        current = [
            item.id
            for item in PlaylistItem.select(PlaylistItem.id)
            .where(PlaylistItem.playlist == playlist.id)
            .order_by(PlaylistItem.position, PlaylistItem.id)
        ]
        if sorted(map(str, data.item_ids)) != sorted(map(str, current)):
            message = (
                f"item_ids must name each of the playlist's {len(current)} items once "
                "(read the playlist for their ids)"
            )
            raise InvalidInput(
                message, fields=[FieldProblem("body.item_ids", "not_a_permutation", message)]
            )
        for index, item_id in enumerate(data.item_ids):
            PlaylistItem.update(position=index).where(PlaylistItem.id == item_id).execute()
        _touch(playlist.id)
    return playlist


def remove_item(db: Database, *, scope: OrgScope, playlist: Playlist, item_id: UUID) -> None:
    with write_transaction(db):
        removed = (
            PlaylistItem.delete()
            .where((PlaylistItem.id == item_id) & (PlaylistItem.playlist == playlist.id))
            .execute()
        )
        if not removed:
            raise NotFound("playlist item", item_id)
        _compact(playlist.id)
        _touch(playlist.id)
