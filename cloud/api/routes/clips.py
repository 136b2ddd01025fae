"""A session's clips (presigned URLs), and triggering one from a phone."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import (
    CoachScope,
    ControlDep,
    DatabaseDep,
    MemberScope,
    RuntimeDep,
    SessionInOrg,
    SignerDep,
    org_scope,
)
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.commands import ClipTrigger, ClipTriggerAccepted
from cloud.api.schemas.records import ClipPublic, ClipsPublic, ClipUpdate
from cloud.api.services import clips as service
from cloud.api.services.commands import commands_public, trigger_clip

router = APIRouter(
    prefix="/sessions/{session_id}/clips", route_class=DocumentedRoute, tags=["clips"]
)


def clip_in_session(
    scope: Annotated[OrgScope, Depends(org_scope)],
    session: SessionInOrg,
    clip_id: Annotated[UUID, Path()],
) -> service.ClipRow:
    return service.get_clip(scope=scope, session=session, clip_id=clip_id)


ClipInSession = Annotated[service.ClipRow, Depends(clip_in_session)]


@router.get("")
def list_clips(
    scope: MemberScope,
    session: SessionInOrg,
    signer: SignerDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ClipsPublic:
    """Verified clips in time order, each with presigned, expiring playback and
    thumbnail URLs (the browser fetches the MP4 from the object store)."""
    rows, next_cursor = service.list_clips(scope=scope, session=session, cursor=cursor, limit=limit)
    return ClipsPublic(
        data=[service.clip_public(row, signer) for row in rows],
        count=len(rows),
        next_cursor=next_cursor,
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        409: {
            "description": "The session is not live (session_not_live) or has no device (no_devices)."
        }
    },
)
def trigger_clip_from_phone(
    scope: CoachScope,
    session: SessionInOrg,
    control: ControlDep,
    runtime: RuntimeDep,
    data: ClipTrigger | None = None,
) -> ClipTriggerAccepted:
    """Clip what just happened (003 POST /sessions/{id}/clips/create): sends a
    ``trigger_clip`` command to the session's device(s). Poll the command ids
    (GET /orgs/{org}/commands/{id}) for sent, acknowledged, clip_uploaded or failed;
    the clip joins the timeline when it arrives."""
    ttl = timedelta(seconds=runtime.settings.control.command_ttl_s)
    commands = trigger_clip(
        scope=scope, session=session, data=data or ClipTrigger(), control=control, ttl=ttl
    )
    return ClipTriggerAccepted(
        command_ids=[c.id for c in commands], commands=commands_public(commands)
    )


@router.get("/{clip_id}")
def read_clip(scope: MemberScope, clip: ClipInSession, signer: SignerDep) -> ClipPublic:
    return service.clip_public(clip, signer)


@router.patch("/{clip_id}")
def update_clip(
    scope: CoachScope,
    db: DatabaseDep,
    session: SessionInOrg,
    clip: ClipInSession,
    signer: SignerDep,
    data: ClipUpdate,
) -> ClipPublic:
    """Give the clip a title and tags."""
    updated = service.update_clip(db, scope=scope, session=session, clip=clip, data=data)
    return service.clip_public(updated, signer)


@router.delete("/{clip_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_clip(scope: CoachScope, db: DatabaseDep, clip: ClipInSession) -> None:
    """Soft delete: the clip leaves the timeline; the video stays in the store."""
    service.delete_clip(db, scope=scope, clip=clip)
