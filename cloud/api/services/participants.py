"""Registrations with capacity, and attendance (spec 000).

Capacity holds under concurrency because a seat is taken by one conditional
UPDATE — ``participant_count = participant_count + 1 WHERE participant_count <
max_participants`` — in the same transaction as the registration row. On
PostgreSQL concurrent joins queue on the session row's lock and re-check the
condition after the previous one commits; on SQLite ``BEGIN IMMEDIATE``
serialises them. A CHECK constraint on the table is the last line of defence.
"""

from __future__ import annotations

from uuid import UUID

from peewee import Database, IntegrityError

from cloud.api.access.scope import OrgScope
from cloud.api.query.rows import fk_id
from cloud.api.schemas.sessions import (
    AttendanceReport,
    ParticipantCreate,
    ParticipantPublic,
    ParticipantUpdate,
)
from cloud.api.services.references import member_user_in_org
from cloud.db import write_transaction
from cloud.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from cloud.models import (
    AttendanceStatus,
    ParticipantStatus,
    Role,
    Session,
    SessionParticipant,
    SessionStatus,
    utc_now,
)

__all__ = [
    "attendance_report",
    "cancel_registration",
    "get_participant",
    "list_participants",
    "participant_public",
    "register",
    "update_attendance",
]

OPEN_FOR_REGISTRATION = (SessionStatus.SCHEDULED, SessionStatus.LIVE)


def participant_public(row: SessionParticipant) -> ParticipantPublic:
    return ParticipantPublic(
        id=row.id,
        session_id=fk_id(row, "session"),
        user_id=fk_id(row, "user"),
        guest_name=row.guest_name,
        guest_email=row.guest_email,
        status=row.status,
        registered_at=row.registered_at,
        cancelled_at=row.cancelled_at,
        attendance=row.attendance,
        joined_at=row.joined_at,
        left_at=row.left_at,
        duration_seconds=row.duration_seconds,
    )


def list_participants(*, scope: OrgScope, session: Session) -> list[SessionParticipant]:
    """Coaches see every registration; others see only their own."""
    query = SessionParticipant.select().where(SessionParticipant.session == session.id)
    if not scope.at_least(Role.COACH):
        query = query.where(SessionParticipant.user == scope.user_id)
    return list(query.order_by(SessionParticipant.registered_at, SessionParticipant.id))


def get_participant(
    *, scope: OrgScope, session: Session, participant_id: UUID
) -> SessionParticipant:
    row = SessionParticipant.get_or_none(
        (SessionParticipant.id == participant_id) & (SessionParticipant.session == session.id)
    )
    if row is None or (not scope.at_least(Role.COACH) and fk_id(row, "user") != scope.user_id):
        raise NotFound("participant", participant_id)
    return row


def register(
    db: Database, *, scope: OrgScope, session: Session, data: ParticipantCreate
) -> SessionParticipant:
    user_id = data.user_id or (None if data.guest_name else scope.user_id)
    if (user_id != scope.user_id) and not scope.at_least(Role.COACH):
        raise Forbidden("only coaches and hosts may register someone else", code="forbidden")
    if data.user_id is not None:
        member_user_in_org(scope=scope, user_id=data.user_id, path="body.user_id")
    guest_email = data.guest_email.lower() if data.guest_email else None
    try:
        with write_transaction(db):
            existing = _earlier_registration(session, user_id, guest_email)
            if existing is not None and existing.status == ParticipantStatus.REGISTERED:
                raise Conflict(
                    "already registered for this session"
                    + (f" (as {guest_email})" if user_id is None else ""),
                    code="already_registered",
                )
            _take_seat(session)
            if existing is not None:
                SessionParticipant.update(
                    status=ParticipantStatus.REGISTERED,
                    registered_at=utc_now(),
                    cancelled_at=None,
                    guest_name=data.guest_name if user_id is None else existing.guest_name,
                ).where(SessionParticipant.id == existing.id).execute()
                return SessionParticipant.get_by_id(existing.id)
            return SessionParticipant.create(
                session=session.id,
                user=user_id,
                guest_name=data.guest_name,
                guest_email=guest_email,
            )
    except IntegrityError:
        # Two registrations of the same user or guest email at the same instant: the
        # unique index decides, and the seat the loser took is rolled back with it.
        raise Conflict("already registered for this session", code="already_registered") from None


def _earlier_registration(
    session: Session, user_id: UUID | None, guest_email: str | None
) -> SessionParticipant | None:
    """The row a user or an emailed guest registered with before, if any (a guest
    without an email cannot be recognised: each such registration is new)."""
    if user_id is not None:
        who = SessionParticipant.user == user_id
    elif guest_email is not None:
        who = SessionParticipant.user.is_null() & (SessionParticipant.guest_email == guest_email)
    else:
        return None
    found: SessionParticipant | None = (
        SessionParticipant.select()
        .where((SessionParticipant.session == session.id) & who)
        .order_by(
            (SessionParticipant.status == ParticipantStatus.REGISTERED).desc(),
            SessionParticipant.registered_at.desc(),
        )
        .first()
    )
    return found


def _take_seat(session: Session) -> None:
    taken = (
        Session.update(participant_count=Session.participant_count + 1)
        .where(
            (Session.id == session.id)
            & Session.deleted_at.is_null()
            & Session.status.in_(list(OPEN_FOR_REGISTRATION))
            & (
                Session.max_participants.is_null()
                | (Session.participant_count < Session.max_participants)
            )
        )
        .execute()
    )
    if taken == 1:
        return
    current = Session.get_by_id(session.id)
    if current.status not in OPEN_FOR_REGISTRATION:
        raise Conflict(
            f"registration is open while a session is scheduled or live, not {current.status}",
            code="registration_closed",
        )
    raise Conflict(f"the session is full ({current.max_participants} places)", code="session_full")


def cancel_registration(
    db: Database, *, scope: OrgScope, session: Session, participant: SessionParticipant
) -> SessionParticipant:
    if fk_id(participant, "user") != scope.user_id and not scope.at_least(Role.COACH):
        raise Forbidden("only coaches and hosts may cancel someone else's registration")
    with write_transaction(db):
        status = Session.get_by_id(session.id).status
        if status not in OPEN_FOR_REGISTRATION:
            raise Conflict(
                f"registrations of a {status} session can no longer be cancelled",
                code="registration_closed",
            )
        changed = (
            SessionParticipant.update(status=ParticipantStatus.CANCELLED, cancelled_at=utc_now())
            .where(
                (SessionParticipant.id == participant.id)
                & (SessionParticipant.status == ParticipantStatus.REGISTERED)
            )
            .execute()
        )
        if not changed:
            raise Conflict("this registration is already cancelled", code="already_cancelled")
        Session.update(participant_count=Session.participant_count - 1).where(
            (Session.id == session.id) & (Session.participant_count > 0)
        ).execute()
    return SessionParticipant.get_by_id(participant.id)


def update_attendance(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    participant: SessionParticipant,
    data: ParticipantUpdate,
) -> SessionParticipant:
    if session.status not in (SessionStatus.LIVE, SessionStatus.ENDED):
        raise Conflict(
            f"attendance is taken once a session is live, not while {session.status}",
            code="session_not_started",
        )
    values = data.model_dump(exclude_unset=True)
    joined = values.get("joined_at", participant.joined_at)
    left = values.get("left_at", participant.left_at)
    if joined is not None and left is not None:
        if left < joined:
            message = "left_at is before joined_at"
            raise InvalidInput(
                message,
                fields=[FieldProblem(path="body.left_at", code="before_joined", message=message)],
            )
        values["duration_seconds"] = int((left - joined).total_seconds())
    with write_transaction(db):
        SessionParticipant.update(values).where(SessionParticipant.id == participant.id).execute()
    return SessionParticipant.get_by_id(participant.id)


def attendance_report(*, session: Session) -> AttendanceReport:
    rows = list(
        SessionParticipant.select()
        .where(
            (SessionParticipant.session == session.id)
            & (SessionParticipant.status == ParticipantStatus.REGISTERED)
        )
        .order_by(SessionParticipant.registered_at, SessionParticipant.id)
    )
    counts = dict.fromkeys(AttendanceStatus, 0)
    for row in rows:
        if row.attendance is not None:
            counts[AttendanceStatus(row.attendance)] += 1
    return AttendanceReport(
        session_id=session.id,
        total_expected=len(rows),
        total_present=counts[AttendanceStatus.PRESENT],
        total_absent=counts[AttendanceStatus.ABSENT],
        total_late=counts[AttendanceStatus.LATE],
        total_excused=counts[AttendanceStatus.EXCUSED],
        total_unmarked=sum(1 for row in rows if row.attendance is None),
        records=[participant_public(row) for row in rows],
    )
