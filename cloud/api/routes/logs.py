"""A session's logs: the coach's entries (validated) and the devices' (read-only)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import CoachScope, DatabaseDep, MemberScope, SessionInOrg, org_scope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.records import LogCreate, LogPublic, LogsPublic, LogUpdate
from cloud.api.services import logs as service

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
    source: Annotated[str | None, Query(max_length=32)] = None,
    type_: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LogsPublic:
    """Logs in the order they happened (003 GET /sessions/{id}/logs)."""
    rows, next_cursor = service.list_logs(
        scope=scope, session=session, source=source, type=type_, cursor=cursor, limit=limit
    )
    return LogsPublic(
        data=[service.log_public(row) for row in rows], count=len(rows), next_cursor=next_cursor
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The session is not live or ended (session_not_started)."}},
)
def create_log(
    scope: CoachScope, db: DatabaseDep, session: SessionInOrg, data: LogCreate
) -> LogPublic:
    """Write a log entry (003 POST /sessions/{id}/logs/create). It is checked against the
    session's form version; every field's problem is listed (422 log_invalid)."""
    return service.log_public(service.create_log(db, scope=scope, session=session, data=data))


@router.get("/{log_id}")
def read_log(scope: MemberScope, log: LogInSession) -> LogPublic:
    return service.log_public(log)


@router.patch("/{log_id}", responses={409: {"description": "A device's log cannot be edited."}})
def update_log(
    scope: CoachScope, db: DatabaseDep, session: SessionInOrg, log: LogInSession, data: LogUpdate
) -> LogPublic:
    """Edit an entry; it is checked against the form version it was written with."""
    return service.log_public(
        service.update_log(db, scope=scope, session=session, log=log, data=data)
    )


@router.delete("/{log_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_log(scope: CoachScope, db: DatabaseDep, log: LogInSession) -> None:
    service.delete_log(db, scope=scope, log=log)
