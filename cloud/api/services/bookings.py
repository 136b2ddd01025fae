"""Meeting bookings: book a bookable time, cancel, reschedule, complete, no-show.

A booking holds its host's time as a ``host_busy`` row (the meeting with the
slot's buffers) written in the same transaction, after the host's lock: two
requests for the same or overlapping times queue on the lock, the second sees
the first and gets ``409 time_taken``, and the database refuses the overlap
even if the lock were missing (docs/scheduling.md).

``Idempotency-Key``: a retry with the same key and body returns the original
booking; the same key with another body is a 422. Keys are the caller's own
(unique per user), so nobody can read another's booking by guessing one.

A guest without an account gets a signed link (``cloud.api.access.links``)
valid until the booking starts: it shows that booking, cancels or reschedules
it, and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from peewee import Database, IntegrityError

from cloud.api.access.links import sign_link, verify_link
from cloud.api.access.scope import OrgScope
from cloud.api.query.cursor import Order, keyset, paginate
from cloud.api.schemas.bookings import (
    BookingCreate,
    BookingPublic,
    BookingReschedule,
    GuestBooking,
)
from cloud.api.services.availability import (
    BookableRange,
    find_bookable_times,
    get_slot,
    overrides_for,
    require_active,
    slot_rule,
)
from cloud.api.services.references import member_user_in_org
from cloud.db import write_transaction
from cloud.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from cloud.models import (
    Booking,
    BookingStatus,
    BusyKind,
    HostBusy,
    MeetingSlot,
    Role,
    User,
    utc_now,
)
from cloud.outbox import wake
from cloud.scheduling.availability import Unbookable, check_time
from cloud.scheduling.busy import claim, lock_host
from cloud.scheduling.errors import invalid
from cloud.scheduling.zones import local_wall
from cloud.webhooks import EventType, emit
from cloud.webhooks.payloads import booking_data

__all__ = [
    "GUEST_LINK",
    "BookingFilters",
    "BookingOutcome",
    "booking_public",
    "cancel_booking",
    "create_booking",
    "get_booking",
    "guest_bookable_times",
    "guest_booking",
    "guest_cancel",
    "guest_reschedule",
    "guest_view",
    "list_bookings",
    "mark_booking",
    "reschedule_booking",
]

GUEST_LINK = "booking"  # the purpose of a guest's link


@dataclass(frozen=True)
class BookingOutcome:
    booking: Booking
    replayed: bool = False  # an Idempotency-Key retry: the original booking
    guest_link: str | None = None  # a guest without an account: their link's token


@dataclass(frozen=True)
class BookingFilters:
    host_id: UUID | None = None
    status: tuple[BookingStatus, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def booking_public(row: Booking) -> BookingPublic:
    return BookingPublic(
        id=row.id,
        slot_id=row.slot_id,
        host_id=row.host_id,
        guest_id=row.guest_id,
        guest_name=row.guest_name,
        guest_email=row.guest_email,
        start=row.starts_at,
        end=row.ends_at,
        timezone=row.timezone,
        scheduled_date=row.scheduled_date,
        start_time=row.start_time,
        end_time=row.end_time,
        status=row.status,
        meeting_url=row.meeting_url,
        meeting_provider=row.meeting_provider,
        notes=row.notes,
        price_minor=row.price_minor,
        currency=row.currency,
        cancellation_reason=row.cancellation_reason,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by_id,
        cancelled_by_guest=row.cancelled_by_guest,
        rescheduled_from=row.rescheduled_from_id,
        rescheduled_to=row.rescheduled_to_id,
        created_at=row.created_at,
    )


# -- reading ------------------------------------------------------------------------------


def _visible(scope: OrgScope) -> Any:
    condition = Booking.org == scope.org_id
    if not scope.at_least(Role.COACH):
        me = scope.user_id
        condition &= (Booking.guest == me) | (Booking.host == me) | (Booking.created_by == me)
    return condition


def get_booking(*, scope: OrgScope, booking_id: UUID) -> Booking:
    """Coaches see every booking; others their own (as guest, host or booker)."""
    row = Booking.get_or_none((Booking.id == booking_id) & _visible(scope))
    if row is None:
        raise NotFound("booking", booking_id)
    found: Booking = row
    return found


def list_bookings(
    *, scope: OrgScope, filters: BookingFilters, cursor: str | None, limit: int
) -> tuple[list[Booking], str | None]:
    """Bookings in time order (keyset on ``starts_at, id``)."""
    condition = _visible(scope)
    if filters.host_id is not None:
        condition &= Booking.host == filters.host_id
    if filters.status:
        condition &= Booking.status.in_(list(filters.status))
    if filters.since is not None:
        condition &= Booking.starts_at >= filters.since
    if filters.until is not None:
        condition &= Booking.starts_at < filters.until
    return paginate(
        keyset(Booking.select().where(condition), Booking.starts_at, Booking.id, Order.ASC),
        listing="bookings:asc",
        cursor=cursor,
        limit=limit,
        key=lambda row: (row.starts_at, row.id),
    )


# -- booking ------------------------------------------------------------------------------


def _request_hash(data: BookingCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(scope: OrgScope, key: str, digest: str) -> Booking | None:
    """The caller's booking made with ``key``: it, if made with the same body."""
    row = Booking.get_or_none(
        (Booking.created_by == scope.user_id) & (Booking.idempotency_key == key)
    )
    if row is None:
        return None
    if row.request_hash != digest:
        message = (
            "this Idempotency-Key was used for a different booking request; "
            "use a new key for a new request"
        )
        raise InvalidInput(
            message,
            fields=[FieldProblem("header.Idempotency-Key", "idempotency_key_reused", message)],
        )
    found: Booking = row
    return found


_REFUSALS: dict[Unbookable, str] = {
    Unbookable.IN_THE_PAST: "this time is in the past",
    Unbookable.NOT_A_SLOT_TIME: "this is not a start time of the slot; ask bookable-times "
    "for the times that can be booked",
    Unbookable.BLACKED_OUT: "the host is not available that day",
    Unbookable.TOO_SOON: "this is sooner than the slot's minimum notice",
    Unbookable.TOO_FAR_AHEAD: "this is further ahead than the slot's booking window",
}


def _check_bookable(slot: MeetingSlot, start: datetime, now: datetime, path: str) -> None:
    rule = slot_rule(slot)
    day = local_wall(start, slot.timezone).date()
    reason = check_time(rule, overrides_for(slot.host_id, day, day), start, now=now)
    if reason is None:
        return
    message = _REFUSALS[reason]
    if reason in (Unbookable.IN_THE_PAST, Unbookable.NOT_A_SLOT_TIME):
        raise invalid(path, reason.value, message)
    raise Conflict(message, code=reason.value)


def _insert(
    db: Database,
    *,
    org_id: UUID,
    slot: MeetingSlot,
    start: datetime,
    guest_id: UUID | None,
    guest_name: str | None,
    guest_email: str | None,
    created_by: UUID | None,
    notes: str | None,
    meeting_url: str | None,
    meeting_provider: str | None,
    now: datetime,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    rescheduled_from: UUID | None = None,
) -> Booking:
    """The booking and its busy row; call in a write transaction after lock_host."""
    end = start + timedelta(minutes=slot.duration_minutes)
    local_start, local_end = local_wall(start, slot.timezone), local_wall(end, slot.timezone)
    booking: Booking = Booking.create(
        org=org_id,
        slot=slot.id,
        host=slot.host_id,
        guest=guest_id,
        guest_name=guest_name,
        guest_email=guest_email,
        starts_at=start,
        ends_at=end,
        timezone=slot.timezone,
        scheduled_date=local_start.date(),
        start_time=local_start.time(),
        end_time=local_end.time(),
        meeting_url=meeting_url or slot.meeting_url,
        meeting_provider=meeting_provider or slot.meeting_provider,
        notes=notes,
        price_minor=slot.price_minor,
        currency=slot.currency,
        created_by=created_by,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        rescheduled_from=rescheduled_from,
        created_at=now,
        updated_at=now,
    )
    claim(
        db,
        org_id=org_id,
        host_id=slot.host_id,
        starts_at=start - timedelta(minutes=slot.buffer_before_minutes),
        ends_at=end + timedelta(minutes=slot.buffer_after_minutes),
        kind=BusyKind.BOOKING,
        booking_id=booking.id,
        what=f"the booking at {start.isoformat()}",
    )
    return booking


def _guest_of(
    scope: OrgScope, data: BookingCreate, host_id: UUID
) -> tuple[UUID | None, str | None, str | None]:
    if data.guest_user_id is not None or data.guest_name is not None:
        if not scope.at_least(Role.COACH):
            raise Forbidden("only coaches and hosts may book for someone else")
    if data.guest_name is not None:
        email = data.guest_email.lower() if data.guest_email else None
        return None, data.guest_name, email
    guest_id = data.guest_user_id or scope.user_id
    if data.guest_user_id is not None:
        member_user_in_org(scope=scope, user_id=data.guest_user_id, path="body.guest_user_id")
    if guest_id == host_id:
        path = "body.guest_user_id" if data.guest_user_id is not None else "body.guest_name"
        raise invalid(path, "host_is_guest", "a host cannot book themselves; name the guest")
    return guest_id, None, None


def create_booking(
    db: Database,
    *,
    scope: OrgScope,
    data: BookingCreate,
    secret: bytes,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> BookingOutcome:
    now = now or utc_now()
    digest = _request_hash(data)
    if idempotency_key is not None:
        original = _replay(scope, idempotency_key, digest)
        if original is not None:
            return BookingOutcome(original, replayed=True)
    slot = get_slot(scope=scope, slot_id=data.slot_id, path="body.slot_id")
    require_active(slot)
    guest_id, guest_name, guest_email = _guest_of(scope, data, slot.host_id)
    _check_bookable(slot, data.start, now, "body.start")
    try:
        with write_transaction(db):
            lock_host(db, slot.host_id)
            if idempotency_key is not None:  # a retry that raced the original
                original = _replay(scope, idempotency_key, digest)
                if original is not None:
                    return BookingOutcome(original, replayed=True)
            booking = _insert(
                db,
                org_id=scope.org_id,
                slot=slot,
                start=data.start,
                guest_id=guest_id,
                guest_name=guest_name,
                guest_email=guest_email,
                created_by=scope.user_id,
                notes=data.notes,
                meeting_url=data.meeting_url,
                meeting_provider=data.meeting_provider,
                now=now,
                idempotency_key=idempotency_key,
                request_hash=digest if idempotency_key is not None else None,
            )
            emit(scope.org_id, EventType.BOOKING_CREATED, booking_data(booking))
    except IntegrityError:
        # The same key at the same instant for another host's slot (another lock):
        # the unique (user, key) index let one through; this is its retry.
        original = _replay(scope, idempotency_key, digest) if idempotency_key else None
        if original is None:
            raise
        return BookingOutcome(original, replayed=True)
    wake()
    return BookingOutcome(booking, guest_link=_guest_link(booking, secret))


def _guest_link(booking: Booking, secret: bytes) -> str | None:
    if booking.guest_id is not None:
        return None  # a member signs in
    return sign_link(
        secret=secret, purpose=GUEST_LINK, ident=booking.id, expires_at=booking.starts_at
    )


# -- lifecycle -------------------------------------------------------------------------------


def _may_change(scope: OrgScope, booking: Booking) -> None:
    me = scope.user_id
    if scope.at_least(Role.COACH) or me in (
        booking.guest_id,
        booking.host_id,
        booking.created_by_id,
    ):
        return
    raise Forbidden("only the guest, the host or a coach may change this booking")


def _cancel(
    db: Database,
    booking: Booking,
    *,
    reason: str | None,
    by_user: UUID | None,
    now: datetime,
) -> Booking:
    with write_transaction(db):
        lock_host(db, booking.host_id)
        changed = (
            Booking.update(
                status=BookingStatus.CANCELLED,
                cancellation_reason=reason,
                cancelled_at=now,
                cancelled_by=by_user,
                cancelled_by_guest=by_user is None,
                updated_at=now,
            )
            .where((Booking.id == booking.id) & (Booking.status == BookingStatus.CONFIRMED))
            .execute()
        )
        if not changed:
            current = Booking.get_by_id(booking.id)
            raise Conflict(f"this booking is {current.status}, not confirmed", code="not_confirmed")
        HostBusy.delete().where(HostBusy.booking == booking.id).execute()  # the time is free
        cancelled: Booking = Booking.get_by_id(booking.id)
        emit(booking.org_id, EventType.BOOKING_CANCELLED, booking_data(cancelled))
    wake()
    return cancelled


def cancel_booking(
    db: Database,
    *,
    scope: OrgScope,
    booking: Booking,
    reason: str | None = None,
    now: datetime | None = None,
) -> Booking:
    _may_change(scope, booking)
    now = now or utc_now()
    if booking.ends_at <= now:
        raise Conflict("this booking is over; mark it completed or no_show", code="booking_over")
    return _cancel(db, booking, reason=reason, by_user=scope.user_id, now=now)


def _reschedule(
    db: Database,
    *,
    org_id: UUID,
    booking: Booking,
    data: BookingReschedule,
    by_user: UUID | None,
    secret: bytes,
    now: datetime,
    slot: MeetingSlot,
) -> BookingOutcome:
    require_active(slot)
    _check_bookable(slot, data.start, now, "body.start")
    with write_transaction(db):
        lock_host(db, booking.host_id)
        # Only a confirmed booking not yet moved: a second reschedule (or a double
        # tap) finds it cancelled and changes nothing.
        moved = (
            Booking.update(
                status=BookingStatus.CANCELLED,
                cancellation_reason="rescheduled",
                cancelled_at=now,
                cancelled_by=by_user,
                cancelled_by_guest=by_user is None,
                updated_at=now,
            )
            .where(
                (Booking.id == booking.id)
                & (Booking.status == BookingStatus.CONFIRMED)
                & Booking.rescheduled_to.is_null()
            )
            .execute()
        )
        if not moved:
            current = Booking.get_by_id(booking.id)
            if current.rescheduled_to_id is not None:
                raise Conflict(
                    f"this booking was already rescheduled to {current.rescheduled_to_id}",
                    code="already_rescheduled",
                )
            raise Conflict(f"this booking is {current.status}, not confirmed", code="not_confirmed")
        HostBusy.delete().where(HostBusy.booking == booking.id).execute()
        new = _insert(
            db,
            org_id=org_id,
            slot=slot,
            start=data.start,
            guest_id=booking.guest_id,
            guest_name=booking.guest_name,
            guest_email=booking.guest_email,
            created_by=by_user or booking.created_by_id,
            notes=booking.notes,
            meeting_url=booking.meeting_url,
            meeting_provider=booking.meeting_provider,
            now=now,
            rescheduled_from=booking.id,
        )
        Booking.update(rescheduled_to=new.id).where(Booking.id == booking.id).execute()
        emit(
            org_id,
            EventType.BOOKING_RESCHEDULED,
            {"from": booking_data(Booking.get_by_id(booking.id)), "to": booking_data(new)},
        )
    wake()
    return BookingOutcome(new, guest_link=_guest_link(new, secret))


def reschedule_booking(
    db: Database,
    *,
    scope: OrgScope,
    booking: Booking,
    data: BookingReschedule,
    secret: bytes,
    now: datetime | None = None,
) -> BookingOutcome:
    """Move a confirmed booking to another bookable time of the same host, in one
    transaction: the old one is cancelled as rescheduled and points at the new one."""
    _may_change(scope, booking)
    slot = _slot_for_move(scope.org_id, booking, data)
    return _reschedule(
        db,
        org_id=scope.org_id,
        booking=booking,
        data=data,
        by_user=scope.user_id,
        secret=secret,
        now=now or utc_now(),
        slot=slot,
    )


def _slot_for_move(org_id: UUID, booking: Booking, data: BookingReschedule) -> MeetingSlot:
    if data.slot_id is None:
        current: MeetingSlot = MeetingSlot.get_by_id(booking.slot_id)
        return current
    slot = MeetingSlot.get_or_none(
        (MeetingSlot.id == data.slot_id)
        & (MeetingSlot.org == org_id)
        & MeetingSlot.deleted_at.is_null()
    )
    if slot is None:
        raise NotFound("meeting slot", data.slot_id, path="body.slot_id")
    if slot.host_id != booking.host_id:
        raise invalid("body.slot_id", "other_host", "a booking moves only within its host's slots")
    found: MeetingSlot = slot
    return found


def mark_booking(
    db: Database,
    *,
    scope: OrgScope,
    booking: Booking,
    status: BookingStatus,
    now: datetime | None = None,
) -> Booking:
    """``completed`` or ``no_show``, by the host or a coach, once the booking started."""
    assert status in (BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
    if scope.user_id != booking.host_id and not scope.at_least(Role.COACH):
        raise Forbidden("only the host or a coach marks how a booking went")
    now = now or utc_now()
    if now < booking.starts_at:
        raise Conflict(
            f"a booking is {status.value} only after it starts ({booking.starts_at.isoformat()})",
            code="booking_not_started",
        )
    with write_transaction(db):
        previous = Booking.get_by_id(booking.id).status
        changed = (
            Booking.update(status=status, updated_at=now)
            .where(
                (Booking.id == booking.id)
                & Booking.status.in_(
                    [BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW]
                )
            )
            .execute()
        )
        marked: Booking = Booking.get_by_id(booking.id)
        if changed and status is BookingStatus.NO_SHOW and previous != BookingStatus.NO_SHOW:
            emit(booking.org_id, EventType.BOOKING_NO_SHOW, booking_data(marked))
    if not changed:
        raise Conflict("a cancelled booking cannot be marked", code="invalid_transition")
    wake()
    return marked


# -- the guest's link --------------------------------------------------------------------------


def guest_booking(*, token: str, secret: bytes, now: datetime | None = None) -> Booking:
    claim_ = verify_link(token, secret=secret, purpose=GUEST_LINK, now=now or utc_now())
    booking = Booking.get_or_none(Booking.id == claim_.ident)
    if booking is None:
        raise NotFound("link", message="this link is not valid; ask for a new one")
    found: Booking = booking
    return found


def guest_view(booking: Booking, *, link_token: str | None = None) -> GuestBooking:
    slot = MeetingSlot.get_by_id(booking.slot_id)
    host = User.get_by_id(booking.host_id)
    return GuestBooking(
        status=booking.status,
        title=slot.title,
        host_name=host.name,
        start=booking.starts_at,
        end=booking.ends_at,
        timezone=booking.timezone,
        scheduled_date=booking.scheduled_date,
        start_time=booking.start_time,
        end_time=booking.end_time,
        meeting_url=booking.meeting_url,
        price_minor=booking.price_minor,
        currency=booking.currency,
        link_token=link_token,
    )


def guest_cancel(
    db: Database, *, token: str, secret: bytes, reason: str | None, now: datetime | None = None
) -> Booking:
    now = now or utc_now()
    booking = guest_booking(token=token, secret=secret, now=now)
    return _cancel(db, booking, reason=reason, by_user=None, now=now)


def guest_reschedule(
    db: Database,
    *,
    token: str,
    secret: bytes,
    data: BookingReschedule,
    now: datetime | None = None,
) -> BookingOutcome:
    now = now or utc_now()
    booking = guest_booking(token=token, secret=secret, now=now)
    slot = _slot_for_move(booking.org_id, booking, data)
    return _reschedule(
        db,
        org_id=booking.org_id,
        booking=booking,
        data=data,
        by_user=None,
        secret=secret,
        now=now,
        slot=slot,
    )


def guest_bookable_times(
    *,
    token: str,
    secret: bytes,
    first: date,
    last: date,
    zone: str,
    now: datetime | None = None,
) -> BookableRange:
    """The times the guest's booking can move to (its host's, in its slot)."""
    now = now or utc_now()
    booking = guest_booking(token=token, secret=secret, now=now)
    return find_bookable_times(
        org_id=booking.org_id,
        host_id=booking.host_id,
        first=first,
        last=last,
        zone=zone,
        slot_id=booking.slot_id,
        now=now,
    )
