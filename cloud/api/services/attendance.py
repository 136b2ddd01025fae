"""Attendance for every session type, reports, and SessionStats.

A participant's presence is a set of join/leave intervals (``attendance_interval``),
merged into their ``joined_at`` (first join), ``left_at`` (last leave, empty while
still there) and ``duration_seconds`` (closed intervals). Unless a coach chose a
status by hand, the status follows the first join: ``present``, or ``late`` when it
is later than the expected start (scheduled, else started) plus the grace period
(the session's ``late_grace_minutes``, else the host's, else 5 minutes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from peewee import JOIN, Database, fn

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.attendance import (
    IntervalCreate,
    ParticipantAttendance,
    ParticipantSession,
    Revenue,
    SessionStats,
)
from cloud.api.schemas.sessions import (
    AttendanceReport,
    IntervalPublic,
    ParticipantPublic,
    ParticipantUpdate,
)
from cloud.api.services.participants import participant_public
from cloud.db import write_transaction
from cloud.errors import Conflict, Forbidden
from cloud.models import (
    AttendanceInterval,
    AttendanceStatus,
    Booking,
    BookingStatus,
    HostSchedule,
    ParticipantStatus,
    Role,
    Session,
    SessionParticipant,
    SessionStatus,
    utc_now,
)
from cloud.scheduling.attendance import Interval, is_late, summarise
from cloud.scheduling.errors import invalid
from cloud.webhooks import EventType, emit
from cloud.webhooks.payloads import participant_data

__all__ = [
    "DEFAULT_GRACE",
    "add_interval",
    "attendance_report",
    "join",
    "leave",
    "participant_attendance",
    "participant_view",
    "participant_views",
    "session_stats",
    "update_attendance",
]

DEFAULT_GRACE = timedelta(minutes=5)
_CLOCK_SKEW = timedelta(minutes=5)  # a join "now" on a phone a little ahead is not the future
_TAKING = (SessionStatus.LIVE, SessionStatus.ENDED)


def _open_for_attendance(session: Session) -> None:
    if session.status not in _TAKING:
        raise Conflict(
            f"attendance is taken once a session is live, not while {session.status}",
            code="session_not_started",
        )


def grace_of(session: Session) -> timedelta:
    if session.late_grace_minutes is not None:
        return timedelta(minutes=session.late_grace_minutes)
    if session.host_id is not None:
        row = HostSchedule.get_or_none(
            (HostSchedule.org == session.org_id) & (HostSchedule.host == session.host_id)
        )
        if row is not None:
            return timedelta(minutes=row.late_grace_minutes)
    return DEFAULT_GRACE


def _intervals(participant_id: UUID) -> list[Interval]:
    return [
        Interval(row.joined_at, row.left_at)
        for row in AttendanceInterval.select()
        .where(AttendanceInterval.participant == participant_id)
        .order_by(AttendanceInterval.joined_at)
    ]


def _recompute(session: Session, participant: SessionParticipant) -> None:
    """The participant's merged times, and the automatic status, from their intervals."""
    summary = summarise(_intervals(participant.id))
    changes: dict[str, Any] = {
        "joined_at": summary.joined_at,
        "left_at": summary.left_at,
        "duration_seconds": summary.duration_seconds,
    }
    current = SessionParticipant.get_by_id(participant.id)
    automatic = current.attendance is None or current.attendance_auto
    expected = session.scheduled_at or session.started_at
    if automatic and summary.joined_at is not None:
        late = expected is not None and is_late(summary.joined_at, expected, grace_of(session))
        changes["attendance"] = AttendanceStatus.LATE if late else AttendanceStatus.PRESENT
        changes["attendance_auto"] = True
    SessionParticipant.update(changes).where(SessionParticipant.id == participant.id).execute()
    marked = SessionParticipant.get_by_id(participant.id)
    emit(session.org_id, EventType.ATTENDANCE_MARKED, participant_data(marked))


def _check_times(joined_at: datetime, left_at: datetime | None, now: datetime, base: str) -> None:
    if joined_at > now + _CLOCK_SKEW:
        raise invalid(f"{base}.joined_at", "in_the_future", "joined_at is in the future")
    if left_at is not None and left_at < joined_at:
        raise invalid(
            f"{base}.left_at",
            "before_joined",
            f"left_at {left_at.isoformat()} is before joined_at {joined_at.isoformat()}",
        )
    if left_at is not None and left_at > now + _CLOCK_SKEW:
        raise invalid(f"{base}.left_at", "in_the_future", "left_at is in the future")


def _active(participant: SessionParticipant) -> None:
    if participant.status != ParticipantStatus.REGISTERED:
        raise Conflict("this registration is cancelled", code="already_cancelled")


def add_interval(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    participant: SessionParticipant,
    data: IntervalCreate,
    now: datetime | None = None,
) -> SessionParticipant:
    """Record one join/leave stretch; overlapping ones are merged."""
    _open_for_attendance(session)
    _active(participant)
    _check_times(data.joined_at, data.left_at, now or utc_now(), "body")
    with write_transaction(db):
        AttendanceInterval.create(
            participant=participant.id, joined_at=data.joined_at, left_at=data.left_at
        )
        _recompute(session, participant)
    updated: SessionParticipant = SessionParticipant.get_by_id(participant.id)
    return updated


def join(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    participant: SessionParticipant,
    at: datetime | None = None,
) -> SessionParticipant:
    """The participant arrives (again): an interval opens."""
    _open_for_attendance(session)
    _active(participant)
    now = utc_now()
    at = at or now
    _check_times(at, None, now, "body")
    with write_transaction(db):
        if _open_interval(participant.id) is not None:
            raise Conflict("already here: leave first", code="already_joined")
        AttendanceInterval.create(participant=participant.id, joined_at=at)
        _recompute(session, participant)
    joined: SessionParticipant = SessionParticipant.get_by_id(participant.id)
    return joined


def leave(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    participant: SessionParticipant,
    at: datetime | None = None,
) -> SessionParticipant:
    """The participant leaves: their open interval closes (not before it opened)."""
    _open_for_attendance(session)
    now = utc_now()
    at = at or now
    with write_transaction(db):
        current = _open_interval(participant.id)
        if current is None:
            raise Conflict("not here: a leave needs a join before it", code="not_joined")
        _check_times(current.joined_at, at, now, "body")
        if at < current.joined_at:
            raise invalid("body.at", "before_joined", "leaving before joining")
        AttendanceInterval.update(left_at=at).where(AttendanceInterval.id == current.id).execute()
        _recompute(session, participant)
    left: SessionParticipant = SessionParticipant.get_by_id(participant.id)
    return left


def _open_interval(participant_id: UUID) -> AttendanceInterval | None:
    row: AttendanceInterval | None = AttendanceInterval.get_or_none(
        (AttendanceInterval.participant == participant_id) & AttendanceInterval.left_at.is_null()
    )
    return row


def update_attendance(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    participant: SessionParticipant,
    data: ParticipantUpdate,
) -> SessionParticipant:
    """A coach's own values: the status (kept), and/or one interval replacing the
    recorded ones. ``attendance: null`` hands the status back to the join times."""
    _open_for_attendance(session)
    values = data.model_dump(exclude_unset=True)
    with write_transaction(db):
        if "joined_at" in values or "left_at" in values:
            joined = values.get("joined_at", participant.joined_at)
            left = values.get("left_at", participant.left_at)
            if joined is None:
                raise invalid("body.joined_at", "missing", "a leave time needs a join time")
            if left is not None and left < joined:
                message = "left_at is before joined_at"
                raise invalid("body.left_at", "before_joined", message)
            AttendanceInterval.delete().where(
                AttendanceInterval.participant == participant.id
            ).execute()
            AttendanceInterval.create(participant=participant.id, joined_at=joined, left_at=left)
        if "attendance" in values:
            chosen = values["attendance"]
            SessionParticipant.update(attendance=chosen, attendance_auto=False).where(
                SessionParticipant.id == participant.id
            ).execute()
        _recompute(session, participant)
    updated: SessionParticipant = SessionParticipant.get_by_id(participant.id)
    return updated


def participant_view(row: SessionParticipant) -> ParticipantPublic:
    return participant_views([row])[0]


def participant_views(rows: Sequence[SessionParticipant]) -> list[ParticipantPublic]:
    """Participants with their intervals (one query for all of them)."""
    by_participant: dict[UUID, list[IntervalPublic]] = {}
    if rows:
        for interval in (
            AttendanceInterval.select()
            .where(AttendanceInterval.participant.in_([row.id for row in rows]))
            .order_by(AttendanceInterval.joined_at)
        ):
            by_participant.setdefault(interval.participant_id, []).append(
                IntervalPublic(joined_at=interval.joined_at, left_at=interval.left_at)
            )
    views = []
    for row in rows:
        view = participant_public(row)
        views.append(
            view.model_copy(
                update={
                    "attendance_auto": row.attendance_auto,
                    "intervals": by_participant.get(row.id, []),
                    "price_minor": row.price_minor,
                    "currency": row.currency,
                }
            )
        )
    return views


def attendance_report(*, session: Session) -> AttendanceReport:
    """Spec 000's AttendanceReport for one session (registrations not cancelled)."""
    rows = list(
        SessionParticipant.select()
        .where(
            (SessionParticipant.session == session.id)
            & (SessionParticipant.status == ParticipantStatus.REGISTERED)
        )
        .order_by(SessionParticipant.registered_at, SessionParticipant.id)
    )
    counts = Counter(AttendanceStatus(row.attendance) for row in rows if row.attendance)
    return AttendanceReport(
        session_id=session.id,
        total_expected=len(rows),
        total_present=counts[AttendanceStatus.PRESENT],
        total_absent=counts[AttendanceStatus.ABSENT],
        total_late=counts[AttendanceStatus.LATE],
        total_excused=counts[AttendanceStatus.EXCUSED],
        total_unmarked=sum(1 for row in rows if row.attendance is None),
        records=participant_views(rows),
    )


def _when() -> Any:
    """A session's time for ranges: when it was scheduled, else when it started."""
    return fn.COALESCE(Session.scheduled_at, Session.started_at)


def _in_range(since: datetime | None, until: datetime | None) -> Any:
    condition = Session.deleted_at.is_null()
    when = _when()
    if since is not None:
        condition &= when >= Session.scheduled_at.db_value(since)
    if until is not None:
        condition &= when < Session.scheduled_at.db_value(until)
    return condition


def participant_attendance(
    *,
    scope: OrgScope,
    user_id: UUID | None,
    guest_email: str | None,
    since: datetime | None,
    until: datetime | None,
) -> ParticipantAttendance:
    """One person's attendance across the organisation's sessions in a range: a member
    sees their own; coaches anyone's (a member by ``user_id``, a guest by email)."""
    if user_id is None and guest_email is None:
        user_id = scope.user_id
    if (user_id != scope.user_id or guest_email is not None) and not scope.at_least(Role.COACH):
        raise Forbidden("only coaches and hosts see someone else's attendance")
    who = (
        SessionParticipant.user == user_id
        if user_id is not None
        else SessionParticipant.user.is_null()
        & (SessionParticipant.guest_email == (guest_email or "").lower())
    )
    rows = list(
        SessionParticipant.select(SessionParticipant, Session)
        .join(Session, on=(SessionParticipant.session == Session.id))
        .where(
            who
            & (Session.org == scope.org_id)
            & (SessionParticipant.status == ParticipantStatus.REGISTERED)
            & _in_range(since, until)
        )
        .order_by(_when(), Session.id)
    )
    counts = Counter(AttendanceStatus(row.attendance) for row in rows if row.attendance)
    return ParticipantAttendance(
        user_id=user_id,
        guest_email=guest_email.lower() if guest_email else None,
        since=since,
        until=until,
        total_expected=len(rows),
        total_present=counts[AttendanceStatus.PRESENT],
        total_absent=counts[AttendanceStatus.ABSENT],
        total_late=counts[AttendanceStatus.LATE],
        total_excused=counts[AttendanceStatus.EXCUSED],
        total_unmarked=sum(1 for row in rows if row.attendance is None),
        total_duration_seconds=sum(row.duration_seconds or 0 for row in rows),
        sessions=[
            ParticipantSession(
                session_id=row.session.id,
                title=row.session.title,
                type=row.session.type,
                status=row.session.status,
                scheduled_at=row.session.scheduled_at,
                participant_id=row.id,
                attendance=row.attendance,
                joined_at=row.joined_at,
                left_at=row.left_at,
                duration_seconds=row.duration_seconds,
            )
            for row in rows
        ],
    )


def session_stats(
    *,
    scope: OrgScope,
    since: datetime | None = None,
    until: datetime | None = None,
    host_id: UUID | None = None,
    team_id: UUID | None = None,
) -> SessionStats:
    """Spec 000's SessionStats. Sessions count by their time (scheduled, else started)
    in ``[since, until)``; bookings by their start. Revenue is an exact integer sum per
    currency of the paid registrations (at the price when the seat was taken) and
    bookings that are not cancelled. A team filter counts no bookings (they belong to
    a host, not a team)."""
    sessions = (Session.org == scope.org_id) & _in_range(since, until)
    if host_id is not None:
        sessions &= Session.host == host_id
    if team_id is not None:
        sessions &= Session.team == team_id
    by_status = dict(
        cast(
            Iterable[tuple[str, int]],
            Session.select(Session.status, fn.COUNT(Session.id))
            .where(sessions)
            .group_by(Session.status)
            .tuples(),
        )
    )
    registrations = (
        SessionParticipant.select(
            SessionParticipant.currency,
            fn.COUNT(SessionParticipant.id),
            fn.SUM(SessionParticipant.price_minor),
        )
        .join(Session, JOIN.INNER, on=(SessionParticipant.session == Session.id))
        .where(
            sessions
            & (Session.status != SessionStatus.CANCELLED)
            & (SessionParticipant.status == ParticipantStatus.REGISTERED)
        )
        .group_by(SessionParticipant.currency)
        .tuples()
    )
    revenue: Counter[str] = Counter()
    participants = 0
    for currency, count, total in cast(Iterable[tuple[str | None, int, Any]], registrations):
        participants += int(count)
        if currency is not None and total is not None:
            revenue[currency] += int(total)
    meetings = 0
    if team_id is None:
        bookings = Booking.org == scope.org_id
        if host_id is not None:
            bookings &= Booking.host == host_id
        if since is not None:
            bookings &= Booking.starts_at >= since
        if until is not None:
            bookings &= Booking.starts_at < until
        booked = (
            Booking.select(Booking.currency, fn.COUNT(Booking.id), fn.SUM(Booking.price_minor))
            .where(bookings & (Booking.status != BookingStatus.CANCELLED))
            .group_by(Booking.currency)
            .tuples()
        )
        for currency, count, total in cast(Iterable[tuple[str | None, int, Any]], booked):
            meetings += int(count)
            if currency is not None and total is not None:
                revenue[currency] += int(total)
    statuses = {SessionStatus(status): int(count) for status, count in by_status.items()}
    cancelled = statuses.pop(SessionStatus.CANCELLED, 0)
    return SessionStats(
        since=since,
        until=until,
        host_id=host_id,
        team_id=team_id,
        total_sessions=sum(statuses.values()),
        live_sessions=statuses.get(SessionStatus.LIVE, 0),
        cancelled_sessions=cancelled,
        total_participants=participants,
        total_meetings=meetings,
        total_revenue=[
            Revenue(currency=currency, amount_minor=amount)
            for currency, amount in sorted(revenue.items())
        ],
    )
