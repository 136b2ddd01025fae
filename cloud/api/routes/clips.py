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
    TaggingDep,
    org_scope,
)
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.commands import ClipTrigger, ClipTriggerAccepted
from cloud.api.schemas.records import ClipPublic, ClipsPublic, ClipUpdate
from cloud.api.schemas.tagging import ClipRequestsAccepted, RangeClipCreate, Retrim
from cloud.api.services import clips as service
from cloud.api.services import tagging
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
    """Verified clips in time order (current trims; a replaced clip is still readable by
    id), each with presigned, expiring playback and thumbnail URLs (the browser fetches
    the MP4 from the object store) and the logs inside its range."""
    rows, next_cursor = service.list_clips(scope=scope, session=session, cursor=cursor, limit=limit)
    tagging.attach_logs_to_clips(rows, org_id=scope.org_id)
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


@router.post(
    "/range",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        409: {
            "description": "The session has not been filmed (session_not_started) or has no "
            "device (no_devices)."
        }
    },
)
def clip_a_range(
    scope: CoachScope,
    session: SessionInOrg,
    control: ControlDep,
    runtime: RuntimeDep,
    tagging_limits: TaggingDep,
    data: RangeClipCreate,
) -> ClipRequestsAccepted:
    """Any past range of the session ("the last 2 minutes": ``last_s``; or ``start`` and
    ``end``) from its devices: each cuts it from its recording, one clip per camera (shown
    from exactly ``start``), or refuses with the reason on its request (no longer on the
    box, camera offline). Poll the command ids; the clips join the timeline."""
    commands = tagging.request_range_clips(
        scope=scope,
        session=session,
        data=data,
        control=control,
        limits=tagging_limits,
        ttl_s=runtime.settings.control.command_ttl_s,
    )
    return ClipRequestsAccepted(
        command_ids=[c.id for c in commands], requests=tagging.requests_public(commands)
    )


@router.get("/{clip_id}")
def read_clip(scope: MemberScope, clip: ClipInSession, signer: SignerDep) -> ClipPublic:
    """One clip (also one a re-trim replaced: ``replaced_by_id`` names the new one)."""
    tagging.attach_logs_to_clips([clip], org_id=scope.org_id)
    return service.clip_public(clip, signer)


@router.post(
    "/{clip_id}/retrim",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        409: {
            "description": "The session has not been filmed (session_not_started), or the "
            "clip was replaced already (clip_replaced)."
        }
    },
)
def retrim_clip(
    scope: CoachScope,
    session: SessionInOrg,
    clip: ClipInSession,
    control: ControlDep,
    runtime: RuntimeDep,
    tagging_limits: TaggingDep,
    data: Retrim,
) -> ClipRequestsAccepted:
    """Cut the clip again with a new lead and lag around its moment (its log's time, or
    its trigger's). The clip stays until the new one is verified; then the new one takes
    its place on the timeline, in playlists and share links (both ids kept). A box that
    no longer holds the range refuses, with the reason on the request."""
    commands = tagging.retrim_clip(
        scope=scope,
        session=session,
        clip=clip,
        data=data,
        control=control,
        limits=tagging_limits,
        ttl_s=runtime.settings.control.command_ttl_s,
    )
    return ClipRequestsAccepted(
        command_ids=[c.id for c in commands], requests=tagging.requests_public(commands)
    )


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
    tagging.attach_logs_to_clips([updated], org_id=scope.org_id)
    return service.clip_public(updated, signer)


@router.delete("/{clip_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_clip(scope: CoachScope, db: DatabaseDep, clip: ClipInSession) -> None:
    """Soft delete: the clip leaves the timeline; the video stays in the store."""
    service.delete_clip(db, scope=scope, clip=clip)
