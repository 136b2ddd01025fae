"""Playlists: named, ordered lists of clips across sessions (by hand, by tag, by player)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import CoachScope, DatabaseDep, MemberScope, SignerDep, org_scope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.playlists import (
    PlaylistCreate,
    PlaylistItemsAdd,
    PlaylistOrder,
    PlaylistPublic,
    PlaylistsPublic,
    PlaylistUpdate,
)
from cloud.api.services import playlists as service
from cloud.models import Playlist

router = APIRouter(prefix="/playlists", route_class=DocumentedRoute, tags=["playlists"])


def playlist_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], playlist_id: Annotated[UUID, Path()]
) -> Playlist:
    return service.get_playlist(scope=scope, playlist_id=playlist_id)


PlaylistInOrg = Annotated[Playlist, Depends(playlist_in_org)]


@router.get("")
def list_playlists(scope: MemberScope) -> PlaylistsPublic:
    found = service.list_playlists(scope=scope)
    return PlaylistsPublic(data=found, count=len(found))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_playlist(
    scope: CoachScope, db: DatabaseDep, signer: SignerDep, data: PlaylistCreate
) -> PlaylistPublic:
    """By hand (``clip_ids``, in that order) and/or from a filter (``fill``: a tag, a
    player, sessions, a time range), the matching clips in time order."""
    playlist = service.create_playlist(db, scope=scope, data=data)
    return service.playlist_public(playlist, signer)


@router.get("/{playlist_id}")
def read_playlist(scope: MemberScope, playlist: PlaylistInOrg, signer: SignerDep) -> PlaylistPublic:
    """Its clips in playing order, each with presigned URLs (the current trim of each)."""
    return service.playlist_public(playlist, signer)


@router.patch("/{playlist_id}")
def update_playlist(
    scope: CoachScope,
    db: DatabaseDep,
    playlist: PlaylistInOrg,
    signer: SignerDep,
    data: PlaylistUpdate,
) -> PlaylistPublic:
    updated = service.update_playlist(db, scope=scope, playlist=playlist, data=data)
    return service.playlist_public(updated, signer)


@router.delete("/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_playlist(scope: CoachScope, db: DatabaseDep, playlist: PlaylistInOrg) -> None:
    """Its share links stop working; the clips stay."""
    service.delete_playlist(db, scope=scope, playlist=playlist)


@router.post("/{playlist_id}/items")
def add_items(
    scope: CoachScope,
    db: DatabaseDep,
    playlist: PlaylistInOrg,
    signer: SignerDep,
    data: PlaylistItemsAdd,
) -> PlaylistPublic:
    """Add clips (each once) at ``position``, or at the end."""
    service.add_items(db, scope=scope, playlist=playlist, data=data)
    return service.playlist_public(playlist, signer)


@router.put("/{playlist_id}/order")
def reorder_items(
    scope: CoachScope,
    db: DatabaseDep,
    playlist: PlaylistInOrg,
    signer: SignerDep,
    data: PlaylistOrder,
) -> PlaylistPublic:
    """The new order: every item id of the playlist, once."""
    service.reorder_items(db, scope=scope, playlist=playlist, data=data)
    return service.playlist_public(playlist, signer)


@router.delete("/{playlist_id}/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_item(
    scope: CoachScope,
    db: DatabaseDep,
    playlist: PlaylistInOrg,
    item_id: Annotated[UUID, Path()],
) -> None:
    service.remove_item(db, scope=scope, playlist=playlist, item_id=item_id)
