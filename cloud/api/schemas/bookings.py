"""Meeting bookings (spec 000's MeetingBooking), their lifecycle and the guest's link."""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import UUID

from pydantic import Field, model_validator

from cloud.api.schemas.common import Input, Output, PageInfo
from cloud.api.schemas.scheduling import Instant
from cloud.models import BookingStatus

__all__ = [
    "BookingCancel",
    "BookingCreate",
    "BookingCreated",
    "BookingPublic",
    "BookingReschedule",
    "BookingsPublic",
    "GuestBooking",
]


class BookingCreate(Input):
    """Book a time ``GET …/bookable-times`` returned. Empty guest fields: you are the
    guest. Coaches and hosts may book for a member (``guest_user_id``) or for a guest by
    name and email (who then gets a link to cancel or reschedule without an account)."""

    slot_id: UUID
    start: Instant
    guest_user_id: UUID | None = None
    guest_name: str | None = Field(default=None, min_length=1, max_length=200)
    guest_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    notes: str | None = Field(default=None, max_length=5000)
    meeting_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    meeting_provider: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_guest(self) -> BookingCreate:
        if self.guest_user_id is not None and self.guest_name is not None:
            raise ValueError("give guest_user_id or guest_name, not both")
        if (self.guest_name is None) != (self.guest_email is None):
            raise ValueError("a guest needs both guest_name and guest_email")
        return self


class BookingReschedule(Input):
    start: Instant
    slot_id: UUID | None = Field(default=None, description="Another slot of the same host.")


class BookingCancel(Input):
    reason: str | None = Field(default=None, max_length=2000)


class BookingPublic(Output):
    id: UUID
    slot_id: UUID
    host_id: UUID
    guest_id: UUID | None
    guest_name: str | None
    guest_email: str | None
    start: datetime = Field(description="UTC.")
    end: datetime
    timezone: str = Field(description="The slot's zone; scheduled_date and times are in it.")
    scheduled_date: date
    start_time: time
    end_time: time
    status: BookingStatus
    meeting_url: str | None
    meeting_provider: str | None
    notes: str | None
    price_minor: int | None
    currency: str | None
    cancellation_reason: str | None
    cancelled_at: datetime | None
    cancelled_by: UUID | None = Field(description="Who cancelled (empty: the guest's link).")
    cancelled_by_guest: bool
    rescheduled_from: UUID | None
    rescheduled_to: UUID | None
    created_at: datetime


class BookingCreated(BookingPublic):
    guest_link_token: str | None = Field(
        default=None,
        description="For a guest without an account: the token of their link "
        "(/api/v1/guest/bookings/{token}), valid until the booking starts. Shown once.",
    )


class BookingsPublic(PageInfo):
    data: list[BookingPublic]


class GuestBooking(Output):
    """What a guest's link shows: their booking, nothing else."""

    status: BookingStatus
    title: str | None
    host_name: str
    start: datetime
    end: datetime
    timezone: str
    scheduled_date: date
    start_time: time
    end_time: time
    meeting_url: str | None
    price_minor: int | None
    currency: str | None
    link_token: str | None = Field(
        default=None, description="After a reschedule: the new booking's link."
    )
