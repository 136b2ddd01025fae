"""Share links: a clip or a playlist, read-only, for people without an account.

Coaches make them (with an expiry), list and revoke them. Whoever holds the link
sees the shared clip or the playlist's clips, with expiring video URLs, and
nothing else: no session, device, log, member or other clip of the organisation;
any other clip's id asked through the link is 404, like a link that was forged,
revoked or has expired (each says which).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.access.sharing import ShareSigner
from cloud.api.config import SharingConfig
from cloud.api.schemas.playlists import SharedClip, SharedView, ShareLinkCreate, ShareLinkPublic
from cloud.api.services.clips import ClipRow, clip_data, clips_query, visible_clips
from cloud.api.services.playlists import get_playlist, playlist_clips
from cloud.db import write_transaction
from cloud.errors import FieldProblem, InvalidInput, NotFound
from cloud.models import Clip, Playlist, ShareKind, ShareLink, utc_now
from cloud.object_store import ClipUrlSigner

__all__ = [
    "create_link",
    "get_link",
    "link_public",
    "list_links",
    "open_link",
    "revoke_link",
    "shared_clip",
]

_SHARED_FIELDS = tuple(SharedClip.model_fields)
URL_LIFETIME_S = 15 * 60
"""A share page's video URLs work this long (never past the link): a withdrawn link's
URLs die soon after; the page asks for fresh ones when one has expired."""


def _shared(row: ClipRow, signer: ClipUrlSigner | None, link: ShareLink) -> SharedClip:
    remaining = int((link.expires_at - utc_now()).total_seconds())
    data = clip_data(row, signer, expires_in=max(1, min(URL_LIFETIME_S, remaining)))
    return SharedClip.model_validate({name: data[name] for name in _SHARED_FIELDS})


def link_public(link: ShareLink, url: str | None = None) -> ShareLinkPublic:
    return ShareLinkPublic(
        id=link.id,
        kind=link.kind,
        clip_id=link.clip_id,
        playlist_id=link.playlist_id,
        title=link.title,
        url=url,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        opened_count=link.opened_count,
        last_opened_at=link.last_opened_at,
    )


def create_link(
    db: Database,
    *,
    scope: OrgScope,
    data: ShareLinkCreate,
    settings: SharingConfig,
    signer: ShareSigner,
) -> tuple[ShareLink, str]:
    """The link and its token (shown once: only the link's id is stored)."""
    days = data.expires_in_days if data.expires_in_days is not None else settings.default_days
    if days > settings.max_days:
        message = f"a share link lasts at most {settings.max_days:g} days"
        raise InvalidInput(
            message, fields=[FieldProblem("body.expires_in_days", "too_large", message)]
        )
    if data.clip_id is not None:
        clip = Clip.get_or_none(visible_clips(scope) & (Clip.id == data.clip_id))
        if clip is None:
            raise NotFound("clip", data.clip_id, path="body.clip_id")
        kind, target = ShareKind.CLIP, {"clip": clip.id}
    else:
        assert data.playlist_id is not None
        try:
            playlist = get_playlist(scope=scope, playlist_id=data.playlist_id)
        except NotFound:
            raise NotFound("playlist", data.playlist_id, path="body.playlist_id") from None
        kind, target = ShareKind.PLAYLIST, {"playlist": playlist.id}
    expires_at = (utc_now() + timedelta(days=days)).replace(microsecond=0)
    with write_transaction(db):
        link = ShareLink.create(
            org=scope.org_id,
            kind=kind,
            title=data.title,
            created_by=scope.user_id,
            expires_at=expires_at,
            **target,
        )
    return link, signer.token(link.id, expires_at)


def get_link(*, scope: OrgScope, link_id: UUID) -> ShareLink:
    link = ShareLink.get_or_none((ShareLink.id == link_id) & (ShareLink.org == scope.org_id))
    if link is None:
        raise NotFound("share link", link_id)
    return link


def list_links(*, scope: OrgScope) -> list[ShareLink]:
    return list(
        ShareLink.select()
        .where(ShareLink.org == scope.org_id)
        .order_by(ShareLink.created_at.desc(), ShareLink.id.desc())
        .limit(500)
    )


def revoke_link(db: Database, *, scope: OrgScope, link: ShareLink) -> ShareLink:
    with write_transaction(db):
        ShareLink.update(revoked_at=utc_now(), revoked_by=scope.user_id).where(
            (ShareLink.id == link.id) & ShareLink.revoked_at.is_null()
        ).execute()
    return get_link(scope=scope, link_id=link.id)


def _open(signer: ShareSigner, token: str, now: datetime) -> ShareLink:
    read = signer.read(token, now=now)
    link = ShareLink.get_or_none(ShareLink.id == read.link_id)
    # The expiry is the token's own too: a row whose expiry changed does not match it.
    if link is None or int(link.expires_at.timestamp()) != int(read.expires_at.timestamp()):
        raise NotFound("share link", message="this share link is not valid; ask for a new one")
    if link.revoked_at is not None:
        raise NotFound("share link", message="this share link was withdrawn by its sender")
    return link


def _items(link: ShareLink) -> tuple[str, list[ClipRow]]:
    if link.kind is ShareKind.CLIP:
        row = (
            clips_query()
            .where(
                (Clip.id == link.clip_id)
                & (Clip.org == link.org_id)
                & Clip.deleted_at.is_null()
                & (Clip.status == "ready")
            )
            .first()
        )
        if row is None:
            raise NotFound("share link", message="the clip this link shared was deleted")
        return row["title"] or "A clip", [row]
    playlist = Playlist.get_or_none(
        (Playlist.id == link.playlist_id)
        & (Playlist.org == link.org_id)
        & Playlist.deleted_at.is_null()
    )
    if playlist is None:
        raise NotFound("share link", message="the playlist this link shared was deleted")
    return str(playlist.title), [row for _, row in playlist_clips(playlist)]


def open_link(
    db: Database, *, token: str, signer: ShareSigner, urls: ClipUrlSigner | None
) -> SharedView:
    """What the link shows, with video URLs that expire no later than it (counted)."""
    now = utc_now()
    link = _open(signer, token, now)
    title, rows = _items(link)
    with write_transaction(db):
        ShareLink.update(opened_count=ShareLink.opened_count + 1, last_opened_at=now).where(
            ShareLink.id == link.id
        ).execute()
    return SharedView(
        kind=link.kind,
        title=link.title or title,
        expires_at=link.expires_at,
        items=[_shared(row, urls, link) for row in rows],
    )


def shared_clip(
    *, token: str, clip_id: UUID, signer: ShareSigner, urls: ClipUrlSigner | None
) -> SharedClip:
    """One clip of the link; any clip it does not share is 404."""
    link = _open(signer, token, utc_now())
    _, rows = _items(link)
    for row in rows:
        if str(row["id"]) == str(clip_id):
            return _shared(row, urls, link)
    raise NotFound("clip", clip_id)
