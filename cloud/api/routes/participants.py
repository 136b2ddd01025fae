"""Registrations (with capacity) and attendance for a session (spec 000)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import CoachScope, DatabaseDep, GuestScope, SessionInOrg, org_scope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.attendance import IntervalCreate, Moment
from cloud.api.schemas.sessions import (
    AttendanceReport,
    ParticipantCreate,
    ParticipantPublic,
    ParticipantsPublic,
    ParticipantUpdate,
)
from cloud.api.services import attendance
from cloud.api.services import participants as service
from cloud.models import SessionParticipant

router = APIRouter(
    prefix="/sessions/{session_id}", route_class=DocumentedRoute, tags=["participants"]
)


def participant_in_session(
    scope: Annotated[OrgScope, Depends(org_scope)],
    session: SessionInOrg,
    participant_id: Annotated[UUID, Path()],
) -> SessionParticipant:
    return service.get_participant(scope=scope, session=session, participant_id=participant_id)


ParticipantInSession = Annotated[SessionParticipant, Depends(participant_in_session)]


@router.get("/participants")
def list_participants(scope: GuestScope, session: SessionInOrg) -> ParticipantsPublic:
    """Coaches and hosts see every registration; others see their own."""
    rows = service.list_participants(scope=scope, session=session)
    return ParticipantsPublic(data=attendance.participant_views(rows), count=len(rows))


@router.post(
    "/participants",
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {
            "description": "session_full, already_registered, or registration_closed "
            "(registration is open while scheduled or live)."
        }
    },
)
def register(
    scope: GuestScope, db: DatabaseDep, session: SessionInOrg, data: ParticipantCreate | None = None
) -> ParticipantPublic:
    """Join the session (empty body), or, as a coach or host, register a member or a guest."""
    row = service.register(db, scope=scope, session=session, data=data or ParticipantCreate())
    return service.participant_public(row)


@router.delete(
    "/participants/{participant_id}",
    responses={409: {"description": "Already cancelled, or the session is over."}},
)
def cancel_registration(
    scope: GuestScope, db: DatabaseDep, session: SessionInOrg, participant: ParticipantInSession
) -> ParticipantPublic:
    """Cancel a registration (your own; coaches and hosts: anyone's). Frees the place."""
    row = service.cancel_registration(db, scope=scope, session=session, participant=participant)
    return service.participant_public(row)


@router.patch(
    "/participants/{participant_id}",
    responses={409: {"description": "Attendance is taken once the session is live."}},
)
def update_attendance(
    scope: CoachScope,
    db: DatabaseDep,
    session: SessionInOrg,
    participant: ParticipantInSession,
    data: ParticipantUpdate,
) -> ParticipantPublic:
    """Mark attendance by hand (present, absent, late, excused; kept as given) and/or set
    one join/leave interval replacing those recorded; the duration is computed."""
    row = attendance.update_attendance(
        db, scope=scope, session=session, participant=participant, data=data
    )
    return attendance.participant_view(row)


_ATTENDANCE_ERRORS: dict[int | str, dict[str, str]] = {
    409: {
        "description": "session_not_started (attendance is taken once live), already_joined, "
        "not_joined, already_cancelled."
    }
}


@router.post("/participants/{participant_id}/intervals", responses=_ATTENDANCE_ERRORS)
def add_interval(
    scope: CoachScope,
    db: DatabaseDep,
    session: SessionInOrg,
    participant: ParticipantInSession,
    data: IntervalCreate,
) -> ParticipantPublic:
    """Record one stretch of presence; several are merged (overlaps count once)."""
    row = attendance.add_interval(
        db, scope=scope, session=session, participant=participant, data=data
    )
    return attendance.participant_view(row)


@router.post("/participants/{participant_id}/join", responses=_ATTENDANCE_ERRORS)
def join(
    scope: CoachScope,
    db: DatabaseDep,
    session: SessionInOrg,
    participant: ParticipantInSession,
    data: Moment | None = None,
) -> ParticipantPublic:
    """They arrive (now, or ``at``): "late" if after the start plus the grace period."""
    at = data.at if data is not None else None
    row = attendance.join(db, scope=scope, session=session, participant=participant, at=at)
    return attendance.participant_view(row)


@router.post("/participants/{participant_id}/leave", responses=_ATTENDANCE_ERRORS)
def leave(
    scope: CoachScope,
    db: DatabaseDep,
    session: SessionInOrg,
    participant: ParticipantInSession,
    data: Moment | None = None,
) -> ParticipantPublic:
    """They leave (now, or ``at``; not before they joined)."""
    at = data.at if data is not None else None
    row = attendance.leave(db, scope=scope, session=session, participant=participant, at=at)
    return attendance.participant_view(row)


@router.get("/attendance")
def attendance_report(scope: CoachScope, session: SessionInOrg) -> AttendanceReport:
    """Spec 000's AttendanceReport, with each record's intervals."""
    return attendance.attendance_report(session=session)
