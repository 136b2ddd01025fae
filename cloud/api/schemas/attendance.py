"""Attendance intervals, a participant's attendance across sessions, and SessionStats."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from cloud.api.schemas.common import Input, Output
from cloud.api.schemas.scheduling import Instant
from cloud.models import AttendanceStatus, SessionStatus, SessionType

__all__ = [
    "IntervalCreate",
    "Moment",
    "ParticipantAttendance",
    "ParticipantSession",
    "Revenue",
    "SessionStats",
]


class IntervalCreate(Input):
    """One stretch of presence: joined, and left (empty: still there)."""

    joined_at: Instant
    left_at: Instant | None = None


class Moment(Input):
    at: Instant | None = Field(default=None, description="Default: now.")


class ParticipantSession(Output):
    session_id: UUID
    title: str
    type: SessionType
    status: SessionStatus
    scheduled_at: datetime | None
    participant_id: UUID
    attendance: AttendanceStatus | None
    joined_at: datetime | None
    left_at: datetime | None
    duration_seconds: int | None


class ParticipantAttendance(Output):
    """One person's attendance across sessions in a date range."""

    user_id: UUID | None
    guest_email: str | None
    since: datetime | None
    until: datetime | None
    total_expected: int = Field(description="Registrations not cancelled.")
    total_present: int
    total_absent: int
    total_late: int
    total_excused: int
    total_unmarked: int
    total_duration_seconds: int
    sessions: list[ParticipantSession]


class Revenue(Output):
    currency: str
    amount_minor: int = Field(description="Exact sum in minor units (cents).")


class SessionStats(Output):
    """Spec 000's SessionStats over a date range (by scheduled time, else start)."""

    since: datetime | None
    until: datetime | None
    host_id: UUID | None
    team_id: UUID | None
    total_sessions: int = Field(description="Sessions not cancelled.")
    live_sessions: int
    cancelled_sessions: int
    total_participants: int = Field(description="Registrations not cancelled.")
    total_meetings: int = Field(description="Bookings not cancelled.")
    total_revenue: list[Revenue] = Field(
        description="Per currency: paid registrations and bookings that are not cancelled."
    )
