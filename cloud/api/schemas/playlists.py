"""Playlists of clips, and the share links that show a clip or a playlist without an account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from cloud.api.schemas.common import Input, Output, StoredJson
from cloud.api.schemas.records import ClipPublic
from cloud.models import ShareKind
from protocol.times import UtcDateTime

__all__ = [
    "PlaylistCreate",
    "PlaylistFilter",
    "PlaylistItemPublic",
    "PlaylistItemsAdd",
    "PlaylistOrder",
    "PlaylistPublic",
    "PlaylistSummary",
    "PlaylistUpdate",
    "PlaylistsPublic",
    "ShareLinkCreate",
    "ShareLinkPublic",
    "ShareLinksPublic",
    "SharedClip",
    "SharedView",
]

MAX_ITEMS = 500
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class PlaylistFilter(Input):
    """Fill a playlist from the organisation's clips, in time order: those of a tag (a
    clip's tag, its log's type, or a value its log holds, e.g. ``goal``), of a player
    (a log's player field), within sessions or times. Every criterion given must match."""

    tag: Tag | None = None
    player_id: UUID | None = Field(default=None, description="A team roster member's id.")
    session_ids: list[UUID] | None = Field(default=None, max_length=100)
    since: UtcDateTime | None = None
    until: UtcDateTime | None = None

    @model_validator(mode="after")
    def _something(self) -> PlaylistFilter:
        if self.tag is None and self.player_id is None and not self.session_ids:
            raise ValueError("give a tag, a player_id or session_ids to fill the playlist from")
        return self


class PlaylistCreate(Input):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    clip_ids: list[UUID] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="By hand, in this order."
    )
    fill: PlaylistFilter | None = Field(
        default=None, description="Add the clips that match, after clip_ids, in time order."
    )


class PlaylistUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class PlaylistItemsAdd(Input):
    clip_ids: list[UUID] = Field(min_length=1, max_length=MAX_ITEMS)
    position: int | None = Field(
        default=None, ge=0, description="Insert at this place (0: first). Empty: at the end."
    )


class PlaylistOrder(Input):
    item_ids: list[UUID] = Field(
        max_length=MAX_ITEMS, description="Every item of the playlist, in the new order."
    )


class PlaylistItemPublic(Output):
    id: UUID
    position: int
    clip: ClipPublic
    added_at: datetime


class PlaylistSummary(Output):
    id: UUID
    title: str
    description: str | None
    source: dict[str, StoredJson] | None = Field(description="How it was filled, if by a filter.")
    item_count: int
    created_at: datetime
    updated_at: datetime


class PlaylistPublic(PlaylistSummary):
    items: list[PlaylistItemPublic] = Field(description="In playing order.")


class PlaylistsPublic(Output):
    data: list[PlaylistSummary]
    count: int


class ShareLinkCreate(Input):
    """A read-only link for people without an account: one clip or one playlist."""

    clip_id: UUID | None = None
    playlist_id: UUID | None = None
    title: str | None = Field(default=None, max_length=200, description="The page's heading.")
    expires_in_days: float | None = Field(
        default=None, gt=0, description="Empty: the configured default (7 days)."
    )

    @model_validator(mode="after")
    def _one_thing(self) -> ShareLinkCreate:
        if (self.clip_id is None) == (self.playlist_id is None):
            raise ValueError("share exactly one thing: clip_id or playlist_id")
        return self


class ShareLinkPublic(Output):
    id: UUID
    kind: ShareKind
    clip_id: UUID | None
    playlist_id: UUID | None
    title: str | None
    url: str | None = Field(description="The link to send (only when it was just made).")
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    opened_count: int
    last_opened_at: datetime | None


class ShareLinksPublic(Output):
    data: list[ShareLinkPublic]
    count: int


class SharedClip(Output):
    """A clip as a share link shows it: nothing of its session, device or organisation."""

    id: UUID
    title: str | None
    tags: list[str]
    started_at: datetime
    duration_ms: int
    width: int
    height: int
    playback_url: str | None
    thumbnail_url: str | None
    urls_expire_at: datetime | None


class SharedView(Output):
    kind: ShareKind
    title: str
    expires_at: datetime
    items: list[SharedClip] = Field(description="One for a clip; a playlist's, in its order.")
