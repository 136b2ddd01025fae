"""Registrations with capacity (spec 000); attendance is in ``attendance``.

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
from cloud.api.schemas.sessions import ParticipantCreate, ParticipantPublic
from cloud.api.services.references import member_user_in_org
from cloud.db import write_transaction
from cloud.errors import Conflict, Forbidden, NotFound
from cloud.models import (
    ParticipantStatus,
    Role,
    Session,
    SessionParticipant,
    SessionStatus,
    utc_now,
)

__all__ = [
    "cancel_registration",
    "get_participant",
    "list_participants",
    "participant_public",
    "register",
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
            price = _seat_price(session)
            if existing is not None:
                SessionParticipant.update(
                    status=ParticipantStatus.REGISTERED,
                    registered_at=utc_now(),
                    cancelled_at=None,
                    guest_name=data.guest_name if user_id is None else existing.guest_name,
                    **price,
                ).where(SessionParticipant.id == existing.id).execute()
                return SessionParticipant.get_by_id(existing.id)
            return SessionParticipant.create(
                session=session.id,
                user=user_id,
                guest_name=data.guest_name,
                guest_email=guest_email,
                **price,
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


def _seat_price(session: Session) -> dict[str, object]:
    """What the seat costs now (kept on the registration, for exact revenue)."""
    current = Session.get_by_id(session.id)
    if current.is_free or current.price_minor is None:
        return {"price_minor": None, "currency": None}
    return {"price_minor": current.price_minor, "currency": current.currency}


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
