"""A host's availability: meeting slots (spec 000), date overrides, limits, bookable times."""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import UUID

from pydantic import Field

from cloud.api.schemas.common import Input, Output
from cloud.api.schemas.scheduling import Currency, LocalDate, LocalTime, ZoneName
from cloud.models import OverrideKind

__all__ = [
    "BookableTime",
    "BookableTimes",
    "BookingSettings",
    "BookingSettingsUpdate",
    "OverrideCreate",
    "OverridePublic",
    "OverridesPublic",
    "SlotCreate",
    "SlotPublic",
    "SlotUpdate",
    "SlotsPublic",
]

_DAY = "0 = Monday … 6 = Sunday (ISO 8601 order, as Python's date.weekday())."


class SlotCreate(Input):
    """A weekly window a host can be booked in (spec 000's MeetingSlot)."""

    host_id: UUID | None = Field(default=None, description="Default: yourself.")
    title: str | None = Field(default=None, max_length=200)
    day_of_week: int = Field(ge=0, le=6, description=_DAY)
    start_time: LocalTime
    end_time: LocalTime = Field(description="After start_time, same local day.")
    duration_minutes: int = Field(gt=0, le=24 * 60, description="Each booking's length.")
    timezone: ZoneName
    is_active: bool = True
    price_minor: int | None = Field(default=None, ge=0, le=10**12, description="Minor units.")
    currency: Currency | None = None
    buffer_before_minutes: int = Field(default=0, ge=0, le=12 * 60)
    buffer_after_minutes: int = Field(default=0, ge=0, le=12 * 60)
    min_notice_minutes: int = Field(default=0, ge=0, le=366 * 24 * 60)
    booking_window_days: int = Field(default=60, ge=1, le=365, description="How far ahead.")
    meeting_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    meeting_provider: str | None = Field(default=None, max_length=64)


class SlotUpdate(Input):
    title: str | None = Field(default=None, max_length=200)
    day_of_week: int | None = Field(default=None, ge=0, le=6, description=_DAY)
    start_time: LocalTime | None = None
    end_time: LocalTime | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=24 * 60)
    timezone: ZoneName | None = None
    is_active: bool | None = None
    price_minor: int | None = Field(default=None, ge=0, le=10**12)
    currency: Currency | None = None
    buffer_before_minutes: int | None = Field(default=None, ge=0, le=12 * 60)
    buffer_after_minutes: int | None = Field(default=None, ge=0, le=12 * 60)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=366 * 24 * 60)
    booking_window_days: int | None = Field(default=None, ge=1, le=365)
    meeting_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    meeting_provider: str | None = Field(default=None, max_length=64)


class SlotPublic(Output):
    id: UUID
    host_id: UUID
    title: str | None
    day_of_week: int = Field(description=_DAY)
    start_time: time
    end_time: time
    duration_minutes: int
    timezone: str
    is_active: bool
    price_minor: int | None
    currency: str | None
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    booking_window_days: int
    meeting_url: str | None
    meeting_provider: str | None
    created_at: datetime
    updated_at: datetime


class SlotsPublic(Output):
    data: list[SlotPublic]
    count: int


class OverrideCreate(Input):
    """A date that differs: ``blackout`` (the whole local day, or between the times)
    or ``extra`` hours (with ``slot_id``'s duration, buffers and price)."""

    host_id: UUID | None = Field(default=None, description="Default: yourself.")
    date: LocalDate
    kind: OverrideKind
    start_time: LocalTime | None = None
    end_time: LocalTime | None = None
    timezone: ZoneName
    slot_id: UUID | None = None
    note: str | None = Field(default=None, max_length=500)


class OverridePublic(Output):
    id: UUID
    host_id: UUID
    date: date
    kind: OverrideKind
    start_time: time | None
    end_time: time | None
    timezone: str
    slot_id: UUID | None
    note: str | None
    created_at: datetime


class OverridesPublic(Output):
    data: list[OverridePublic]
    count: int


class BookingSettingsUpdate(Input):
    timezone: ZoneName = Field(default="UTC", description="The zone days and weeks are counted in.")
    max_per_day: int | None = Field(
        default=None, ge=1, le=1000, description="Bookings and hosted sessions a day, together."
    )
    max_per_week: int | None = Field(default=None, ge=1, le=5000, description="The same a week.")
    late_grace_minutes: int = Field(
        default=5, ge=0, le=24 * 60, description="Arriving later than this after the start is late."
    )


class BookingSettings(BookingSettingsUpdate):
    host_id: UUID


class BookableTime(Output):
    slot_id: UUID
    start: datetime = Field(description="UTC.")
    end: datetime = Field(description="UTC.")
    start_local: datetime = Field(description="In the requested `tz`, with its offset.")
    end_local: datetime
    price_minor: int | None
    currency: str | None


class BookableTimes(Output):
    host_id: UUID
    timezone: str = Field(description="The zone `start_local` and the dates are in.")
    date_from: date
    date_to: date
    data: list[BookableTime]
    count: int
