"""A guest's link: their booking without an account (signed, expiring; nothing else)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from cloud.api.deps import DatabaseDep, SecretDep
from cloud.api.routes.availability import bookable_response
from cloud.api.schemas.availability import BookableTimes
from cloud.api.schemas.bookings import BookingCancel, BookingReschedule, GuestBooking
from cloud.api.schemas.scheduling import LocalDate, ZoneName
from cloud.api.services import bookings as service

router = APIRouter(prefix="/guest/bookings/{token}", tags=["guest links"])

Token = Annotated[str, Path(max_length=512, description="The token of the guest's link.")]
_ERRORS: dict[int | str, dict[str, str]] = {
    403: {"description": "The link expired (link_expired)."},
    404: {"description": "Not a valid link."},
    409: {"description": "The booking is no longer confirmed, or the time is taken."},
}


@router.get("", responses=_ERRORS)
def read(token: Token, secret: SecretDep) -> GuestBooking:
    return service.guest_view(service.guest_booking(token=token, secret=secret))


@router.post("/cancel", responses=_ERRORS)
def cancel(
    token: Token, db: DatabaseDep, secret: SecretDep, data: BookingCancel | None = None
) -> GuestBooking:
    reason = data.reason if data is not None else None
    return service.guest_view(service.guest_cancel(db, token=token, secret=secret, reason=reason))


@router.get("/times", responses=_ERRORS)
def times(
    token: Token,
    secret: SecretDep,
    date_from: Annotated[LocalDate, Query(alias="from")],
    date_to: Annotated[LocalDate, Query(alias="to")],
    tz: ZoneName | None = None,
) -> BookableTimes:
    """Where the booking can move to."""
    return bookable_response(
        service.guest_bookable_times(
            token=token, secret=secret, first=date_from, last=date_to, zone=tz or "UTC"
        )
    )


@router.post("/reschedule", status_code=status.HTTP_201_CREATED, responses=_ERRORS)
def reschedule(
    token: Token, db: DatabaseDep, secret: SecretDep, data: BookingReschedule
) -> GuestBooking:
    """The new booking, with its own link (``link_token``); this link then shows the
    cancelled one."""
    outcome = service.guest_reschedule(db, token=token, secret=secret, data=data)
    return service.guest_view(outcome.booking, link_token=outcome.guest_link)
