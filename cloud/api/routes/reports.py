"""Reports across sessions: a participant's attendance, and SessionStats (spec 000)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from cloud.api.deps import CoachScope, GuestScope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.attendance import ParticipantAttendance, SessionStats
from cloud.api.schemas.scheduling import Instant
from cloud.api.services import attendance as service

router = APIRouter(route_class=DocumentedRoute, tags=["reports"])

Since = Annotated[Instant | None, Query(description="From this instant (inclusive).")]
Until = Annotated[Instant | None, Query(description="Up to this instant (exclusive).")]


@router.get("/attendance")
def participant_attendance(
    scope: GuestScope,
    since: Since = None,
    until: Until = None,
    user_id: UUID | None = None,
    guest_email: Annotated[str | None, Query(max_length=254)] = None,
) -> ParticipantAttendance:
    """One person's attendance across sessions (by scheduled time, else start): yours, or
    as a coach anyone's (``user_id``, or a guest's ``guest_email``)."""
    return service.participant_attendance(
        scope=scope, user_id=user_id, guest_email=guest_email, since=since, until=until
    )


@router.get("/stats")
def session_stats(
    scope: CoachScope,
    since: Since = None,
    until: Until = None,
    host_id: UUID | None = None,
    team_id: UUID | None = None,
) -> SessionStats:
    """Spec 000's SessionStats over a range, for the organisation, a host or a team;
    revenue per currency, exact."""
    return service.session_stats(
        scope=scope, since=since, until=until, host_id=host_id, team_id=team_id
    )
