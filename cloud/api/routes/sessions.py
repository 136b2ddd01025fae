"""Sessions: list, create, read, edit, delete, and the lifecycle transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from cloud.api.deps import CoachScope, ControlDep, DatabaseDep, GuestScope, SessionInOrg
from cloud.api.openapi import DocumentedRoute
from cloud.api.query.cursor import Order
from cloud.api.query.rows import fk_id
from cloud.api.responses import model_response
from cloud.api.schemas.sessions import (
    DeviceSync,
    SessionCancel,
    SessionCreate,
    SessionPublic,
    SessionsPublic,
    SessionTransitionResult,
    SessionUpdate,
)
from cloud.api.services import sessions as service
from cloud.api.services.lifecycle import Action, TransitionOutcome, transition
from cloud.models import SessionStatus, SessionType

router = APIRouter(prefix="/sessions", route_class=DocumentedRoute, tags=["sessions"])

_TRANSITION_ERRORS: dict[int | str, dict[str, str]] = {
    409: {"description": "Not allowed from the session's current status (invalid_transition)."}
}


def _result(outcome: TransitionOutcome) -> SessionTransitionResult:
    return SessionTransitionResult(
        session=service.session_public(outcome.session),
        devices=[
            DeviceSync(
                device_id=fk_id(row, "device"),
                revision=row.revision,
                published=(row.published_revision or 0) >= row.revision,
                error=row.publish_error,
            )
            for row in outcome.devices
        ],
    )


@router.get("", response_model=SessionsPublic)
def list_sessions(
    scope: GuestScope,
    status_: Annotated[list[SessionStatus] | None, Query(alias="status")] = None,
    type_: Annotated[list[SessionType] | None, Query(alias="type")] = None,
    team_id: UUID | None = None,
    host_id: UUID | None = None,
    scheduled_from: Annotated[
        datetime | None, Query(description="scheduled_at >= this (aware).")
    ] = None,
    scheduled_to: Annotated[
        datetime | None, Query(description="scheduled_at < this (aware).")
    ] = None,
    sort: Literal["created_at", "scheduled_at"] = "created_at",
    order: Order = Order.DESC,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Sessions of the organisation, newest first by default; ``sort=scheduled_at&order=asc``
    lists the schedule (sessions without a date are left out of that order)."""
    filters = service.SessionFilters(
        status=status_ or (),
        type=type_ or (),
        team_id=team_id,
        host_id=host_id,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
    )
    rows, next_cursor = service.list_sessions(
        scope=scope, filters=filters, sort=sort, order=order, cursor=cursor, limit=limit
    )
    page = SessionsPublic(
        data=service.sessions_public(rows), count=len(rows), next_cursor=next_cursor
    )
    return model_response(page)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_session(scope: CoachScope, db: DatabaseDep, data: SessionCreate) -> SessionPublic:
    """Create a session: draft (003), or scheduled when it has a date (000)."""
    return service.session_public(service.create_session(db, scope=scope, data=data))


@router.get("/{session_id}")
def read_session(scope: GuestScope, session: SessionInOrg) -> SessionPublic:
    return service.session_public(session)


@router.patch("/{session_id}", responses={409: {"description": "Not editable in this status."}})
def update_session(
    scope: CoachScope, db: DatabaseDep, session: SessionInOrg, data: SessionUpdate
) -> SessionPublic:
    return service.session_public(
        service.update_session(db, scope=scope, session=session, data=data)
    )


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "A live session must be ended first (session_live)."}},
)
def delete_session(scope: CoachScope, db: DatabaseDep, session: SessionInOrg) -> None:
    """Soft-delete the session (003 POST /sessions/{id}/delete)."""
    service.delete_session(db, scope=scope, session=session)


@router.post("/{session_id}/schedule", responses=_TRANSITION_ERRORS)
def schedule_session(
    scope: CoachScope, db: DatabaseDep, control: ControlDep, session: SessionInOrg
) -> SessionTransitionResult:
    """draft -> scheduled (needs scheduled_at)."""
    return _result(
        transition(db, scope=scope, session=session, action=Action.SCHEDULE, control=control)
    )


@router.post("/{session_id}/start", responses=_TRANSITION_ERRORS)
def start_session(
    scope: CoachScope, db: DatabaseDep, control: ControlDep, session: SessionInOrg
) -> SessionTransitionResult:
    """draft or scheduled -> live (003 InProgress). Pins the form version and tells the
    session's devices (retained desired state: active session and form)."""
    return _result(
        transition(db, scope=scope, session=session, action=Action.START, control=control)
    )


@router.post("/{session_id}/end", responses=_TRANSITION_ERRORS)
def end_session(
    scope: CoachScope, db: DatabaseDep, control: ControlDep, session: SessionInOrg
) -> SessionTransitionResult:
    """live -> ended (003 Completed); clears the devices' active session."""
    return _result(transition(db, scope=scope, session=session, action=Action.END, control=control))


@router.post("/{session_id}/cancel", responses=_TRANSITION_ERRORS)
def cancel_session(
    scope: CoachScope,
    db: DatabaseDep,
    control: ControlDep,
    session: SessionInOrg,
    data: SessionCancel | None = None,
) -> SessionTransitionResult:
    """draft, scheduled or live -> cancelled, with an optional reason."""
    reason = data.reason if data is not None else None
    outcome = transition(
        db, scope=scope, session=session, action=Action.CANCEL, control=control, reason=reason
    )
    return _result(outcome)
