"""Playlists of clips, and share links that show a clip or a playlist to anyone holding them."""

from __future__ import annotations

from uuid import UUID

from peewee import Check, ForeignKeyField, IntegerField, JSONField, TextField

from cloud.models.accounts import Organisation, User
from cloud.models.base import BaseModel, StrEnumField, UtcDateTimeField, new_uuid_pk, utc_now
from cloud.models.enums import ShareKind
from cloud.models.records import Clip

__all__ = ["Playlist", "PlaylistItem", "ShareLink", "SigningKey"]


class Playlist(BaseModel):
    """A named, ordered list of clips, across sessions."""

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="playlists", on_delete="CASCADE", index=False)
    org_id: UUID
    title = TextField()
    description = TextField(null=True)
    source = JSONField(null=True)  # how it was filled: {"tag": ...} / {"player_id": ...}
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    created_by_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now)
    deleted_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("org", "created_at", "id"), False),)


class PlaylistItem(BaseModel):
    id = new_uuid_pk()
    playlist = ForeignKeyField(Playlist, backref="items", on_delete="CASCADE", index=False)
    playlist_id: UUID
    clip = ForeignKeyField(Clip, on_delete="CASCADE", index=False)
    clip_id: UUID
    position = IntegerField(constraints=[Check("position >= 0")])
    added_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    added_by_id: UUID | None
    added_at = UtcDateTimeField(default=utc_now)

    class Meta:
        table_name = "playlist_item"
        indexes = (
            (("playlist", "clip"), True),
            (("playlist", "position"), False),
            (("clip",), False),
        )


class ShareLink(BaseModel):
    """A read-only link to one clip or one playlist, for people without an account.

    The URL carries the link's id and expiry, signed (``cloud.api.sharing``); the row
    says whether it was revoked. Nothing else of the organisation is reachable by it.
    """

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="share_links", on_delete="CASCADE", index=False)
    org_id: UUID
    kind = StrEnumField(ShareKind)
    clip = ForeignKeyField(Clip, null=True, on_delete="CASCADE", index=False)
    clip_id: UUID | None
    playlist = ForeignKeyField(Playlist, null=True, on_delete="CASCADE", index=False)
    playlist_id: UUID | None
    title = TextField(null=True)  # what the page shows as its heading
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    created_by_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)
    expires_at = UtcDateTimeField()
    revoked_at = UtcDateTimeField(null=True)
    revoked_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    revoked_by_id: UUID | None
    opened_count = IntegerField(default=0)
    last_opened_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "share_link"
        indexes = (
            (("org", "created_at", "id"), False),
            (("clip",), False),
            (("playlist",), False),
        )
        constraints = [
            Check(
                "(kind = 'clip' AND clip_id IS NOT NULL AND playlist_id IS NULL) OR "
                "(kind = 'playlist' AND playlist_id IS NOT NULL AND clip_id IS NULL)"
            )
        ]


class SigningKey(BaseModel):
    """Secrets the cloud signs with (share links), made once and shared by every API process."""

    name = TextField(primary_key=True)
    secret = TextField()
    created_at = UtcDateTimeField(default=utc_now)

    class Meta:
        table_name = "signing_key"
