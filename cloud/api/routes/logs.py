"""A session's logs: the coach's entries (validated) and the devices' (read-only)."""

from __future__ import annotations

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
from cloud.api.schemas.records import LogCreate, LogPublic, LogsPublic, LogUpdate
from cloud.api.schemas.tagging import ClipRequestsAccepted, Retrim
from cloud.api.services import logs as service
from cloud.api.services import tagging

router = APIRouter(prefix="/sessions/{session_id}/logs", route_class=DocumentedRoute, tags=["logs"])


def log_in_session(
    scope: Annotated[OrgScope, Depends(org_scope)],
    session: SessionInOrg,
    log_id: Annotated[UUID, Path()],
) -> service.LogRow:
    return service.get_log(scope=scope, session=session, log_id=log_id)


LogInSession = Annotated[service.LogRow, Depends(log_in_session)]


@router.get("")
def list_logs(
    scope: MemberScope,
    session: SessionInOrg,
    signer: SignerDep,
    source: Annotated[str | None, Query(max_length=32)] = None,
    type_: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LogsPublic:
    """Logs in the order they happened (003 GET /sessions/{id}/logs), each tag with its
    clips (one per camera) and what each device answered when asked for them."""
    rows, next_cursor = service.list_logs(
        scope=scope, session=session, source=source, type=type_, cursor=cursor, limit=limit
    )
    tagging.attach_clips_to_logs(rows, org_id=scope.org_id, signer=signer)
    return LogsPublic(
        data=[service.log_public(row) for row in rows], count=len(rows), next_cursor=next_cursor
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The session is not live or ended (session_not_started)."}},
)
def create_log(
    scope: CoachScope,
    db: DatabaseDep,
    session: SessionInOrg,
    control: ControlDep,
    runtime: RuntimeDep,
    signer: SignerDep,
    data: LogCreate,
) -> LogPublic:
    """Write a log entry (003 POST /sessions/{id}/logs/create). It is checked against the
    session's form version; every field's problem is listed (422 log_invalid). When it
    tags (the form's clip settings, or ``lead_s``/``lag_s``), every device of the session
    is asked for ``[occurred_at - lead, occurred_at + lag]``: ``clip_requests`` says what
    each answered, ``clips`` fills as they arrive."""
    row = service.create_log(
        db,
        scope=scope,
        session=session,
        data=data,
        control=control,
        limits=runtime.settings.tagging,
        ttl_s=runtime.settings.control.command_ttl_s,
    )
    tagging.attach_clips_to_logs([row], org_id=scope.org_id, signer=signer)
    return service.log_public(row)


@router.get("/{log_id}")
def read_log(scope: MemberScope, log: LogInSession, signer: SignerDep) -> LogPublic:
    """One entry, with its clips and the devices' answers."""
    tagging.attach_clips_to_logs([log], org_id=scope.org_id, signer=signer)
    return service.log_public(log)


@router.post(
    "/{log_id}/retrim",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "The session has not been filmed (session_not_started)."}},
)
def retrim_log(
    scope: CoachScope,
    session: SessionInOrg,
    log: LogInSession,
    control: ControlDep,
    runtime: RuntimeDep,
    tagging_limits: TaggingDep,
    data: Retrim,
) -> ClipRequestsAccepted:
    """A new lead and lag for the log: each of its clips is cut again (the old one stays
    until the new one is ready, then the new one takes its place, both ids kept), and
    devices that have no clip for it yet are asked again. A device that no longer holds
    the range refuses, with the reason on its request."""
    commands = tagging.retrim_log(
        scope=scope,
        session=session,
        log_id=log["id"],
        data=data,
        control=control,
        limits=tagging_limits,
        ttl_s=runtime.settings.control.command_ttl_s,
    )
    return ClipRequestsAccepted(
        command_ids=[c.id for c in commands], requests=tagging.requests_public(commands)
    )


@router.patch("/{log_id}", responses={409: {"description": "A device's log cannot be edited."}})
def update_log(
    scope: CoachScope,
    db: DatabaseDep,
    session: SessionInOrg,
    log: LogInSession,
    signer: SignerDep,
    data: LogUpdate,
) -> LogPublic:
    """Edit an entry; it is checked against the form version it was written with (its
    clips keep their trim: re-trim them with POST …/retrim)."""
    row = service.update_log(db, scope=scope, session=session, log=log, data=data)
    tagging.attach_clips_to_logs([row], org_id=scope.org_id, signer=signer)
    return service.log_public(row)


@router.delete("/{log_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_log(scope: CoachScope, db: DatabaseDep, log: LogInSession) -> None:
    service.delete_log(db, scope=scope, log=log)
