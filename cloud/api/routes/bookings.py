"""Meeting bookings: book, read, list, cancel, reschedule, complete, no-show."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response, status

from cloud.api.deps import BookingInOrg, CoachScope, DatabaseDep, GuestScope, SecretDep
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.bookings import (
    BookingCancel,
    BookingCreate,
    BookingCreated,
    BookingPublic,
    BookingReschedule,
    BookingsPublic,
)
from cloud.api.schemas.scheduling import Instant
from cloud.api.services import bookings as service
from cloud.models import BookingStatus

router = APIRouter(prefix="/bookings", route_class=DocumentedRoute, tags=["bookings"])

_BOOK_ERRORS: dict[int | str, dict[str, str]] = {
    409: {
        "description": "time_taken (the host is busy then), limit_reached, too_soon, "
        "too_far_ahead, blacked_out, slot_inactive, not_confirmed, already_rescheduled."
    }
}


def _created(outcome: service.BookingOutcome, response: Response) -> BookingCreated:
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    view = service.booking_public(outcome.booking)
    return BookingCreated(**view.model_dump(), guest_link_token=outcome.guest_link)


@router.post("", status_code=status.HTTP_201_CREATED, responses=_BOOK_ERRORS)
def create_booking(
    scope: GuestScope,
    db: DatabaseDep,
    secret: SecretDep,
    data: BookingCreate,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Retries with the same key and body return the original booking "
            "(with `Idempotent-Replayed: true`); another body with the key is a 422.",
        ),
    ] = None,
) -> BookingCreated:
    """Book a time the host's bookable-times returned."""
    outcome = service.create_booking(
        db, scope=scope, data=data, secret=secret, idempotency_key=idempotency_key
    )
    return _created(outcome, response)


@router.get("")
def list_bookings(
    scope: GuestScope,
    host_id: UUID | None = None,
    status_: Annotated[list[BookingStatus] | None, Query(alias="status")] = None,
    since: Annotated[Instant | None, Query(description="start >= this.")] = None,
    until: Annotated[Instant | None, Query(description="start < this.")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> BookingsPublic:
    """Bookings in time order: coaches see all, others their own (as guest, host or booker)."""
    filters = service.BookingFilters(
        host_id=host_id, status=tuple(status_ or ()), since=since, until=until
    )
    rows, next_cursor = service.list_bookings(
        scope=scope, filters=filters, cursor=cursor, limit=limit
    )
    return BookingsPublic(
        data=[service.booking_public(row) for row in rows], count=len(rows), next_cursor=next_cursor
    )


@router.get("/{booking_id}")
def read_booking(scope: GuestScope, booking: BookingInOrg) -> BookingPublic:
    return service.booking_public(booking)


@router.post("/{booking_id}/cancel", responses=_BOOK_ERRORS)
def cancel_booking(
    scope: GuestScope, db: DatabaseDep, booking: BookingInOrg, data: BookingCancel | None = None
) -> BookingPublic:
    """Cancel (the guest, the host or a coach); the time is free again."""
    reason = data.reason if data is not None else None
    return service.booking_public(
        service.cancel_booking(db, scope=scope, booking=booking, reason=reason)
    )


@router.post(
    "/{booking_id}/reschedule", status_code=status.HTTP_201_CREATED, responses=_BOOK_ERRORS
)
def reschedule_booking(
    scope: GuestScope,
    db: DatabaseDep,
    secret: SecretDep,
    booking: BookingInOrg,
    data: BookingReschedule,
    response: Response,
) -> BookingCreated:
    """Move to another bookable time of the same host: the new booking; the old one is
    cancelled as rescheduled and points at it. Only once."""
    outcome = service.reschedule_booking(db, scope=scope, booking=booking, data=data, secret=secret)
    return _created(outcome, response)


@router.post("/{booking_id}/complete", responses=_BOOK_ERRORS)
def complete_booking(scope: CoachScope, db: DatabaseDep, booking: BookingInOrg) -> BookingPublic:
    """It took place (the host or a coach, once it started)."""
    return service.booking_public(
        service.mark_booking(db, scope=scope, booking=booking, status=BookingStatus.COMPLETED)
    )


@router.post("/{booking_id}/no-show", responses=_BOOK_ERRORS)
def no_show(scope: CoachScope, db: DatabaseDep, booking: BookingInOrg) -> BookingPublic:
    """The guest did not come (the host or a coach, once it started)."""
    return service.booking_public(
        service.mark_booking(db, scope=scope, booking=booking, status=BookingStatus.NO_SHOW)
    )
