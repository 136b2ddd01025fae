"""A host's availability: meeting slots, date overrides, booking limits, bookable times."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from cloud.api.deps import (
    CoachScope,
    DatabaseDep,
    GuestScope,
    HostInOrg,
    OverrideInOrg,
    SlotInOrg,
)
from cloud.api.openapi import DocumentedRoute
from cloud.api.responses import model_response
from cloud.api.schemas.availability import (
    BookableTime,
    BookableTimes,
    BookingSettings,
    BookingSettingsUpdate,
    OverrideCreate,
    OverridePublic,
    OverridesPublic,
    SlotCreate,
    SlotPublic,
    SlotsPublic,
    SlotUpdate,
)
from cloud.api.schemas.scheduling import LocalDate, ZoneName
from cloud.api.services import availability as service
from cloud.models import AvailabilityOverride, utc_now
from cloud.scheduling.zones import local_wall, zone

router = APIRouter(route_class=DocumentedRoute, tags=["availability"])


def _slot(row: object) -> SlotPublic:
    return SlotPublic.model_validate(row)


def _override(row: AvailabilityOverride) -> OverridePublic:
    return OverridePublic(
        id=row.id,
        host_id=row.host_id,
        date=row.day,
        kind=row.kind,
        start_time=row.start_time,
        end_time=row.end_time,
        timezone=row.timezone,
        slot_id=row.slot_id,
        note=row.note,
        created_at=row.created_at,
    )


@router.get("/meeting-slots")
def list_slots(scope: GuestScope, host_id: UUID | None = None) -> SlotsPublic:
    """Meeting slots (spec 000's MeetingSlot) of the organisation's hosts."""
    rows = service.list_slots(scope=scope, host_id=host_id)
    return SlotsPublic(data=[_slot(row) for row in rows], count=len(rows))


@router.post("/meeting-slots", status_code=status.HTTP_201_CREATED)
def create_slot(scope: CoachScope, db: DatabaseDep, data: SlotCreate) -> SlotPublic:
    """A weekly window you (or, as an admin, another host) can be booked in."""
    return _slot(service.create_slot(db, scope=scope, data=data))


@router.get("/meeting-slots/{slot_id}")
def read_slot(scope: GuestScope, slot: SlotInOrg) -> SlotPublic:
    return _slot(slot)


@router.patch("/meeting-slots/{slot_id}")
def update_slot(
    scope: CoachScope, db: DatabaseDep, slot: SlotInOrg, data: SlotUpdate
) -> SlotPublic:
    """Existing bookings keep their time; the change applies to what is bookable next."""
    return _slot(service.update_slot(db, scope=scope, slot=slot, data=data))


@router.delete("/meeting-slots/{slot_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_slot(scope: CoachScope, db: DatabaseDep, slot: SlotInOrg) -> None:
    """Nothing more can be booked in it; existing bookings stay."""
    service.delete_slot(db, scope=scope, slot=slot)


@router.get("/availability-overrides")
def list_overrides(
    scope: GuestScope, host_id: UUID | None = None, since: LocalDate | None = None
) -> OverridesPublic:
    rows = service.list_overrides(scope=scope, host_id=host_id, since=since)
    return OverridesPublic(data=[_override(row) for row in rows], count=len(rows))


@router.post("/availability-overrides", status_code=status.HTTP_201_CREATED)
def create_override(scope: CoachScope, db: DatabaseDep, data: OverrideCreate) -> OverridePublic:
    """A blackout day (or hours) or extra hours on one date."""
    return _override(service.create_override(db, scope=scope, data=data))


@router.delete("/availability-overrides/{override_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_override(scope: CoachScope, db: DatabaseDep, override: OverrideInOrg) -> None:
    service.delete_override(db, scope=scope, override=override)


@router.get("/hosts/{host_id}/booking-settings")
def read_booking_settings(scope: GuestScope, host: HostInOrg) -> BookingSettings:
    """The host's limits (bookings and hosted sessions a day / week) and late grace."""
    return service.booking_settings(scope=scope, host=host)


@router.put("/hosts/{host_id}/booking-settings")
def put_booking_settings(
    scope: CoachScope, db: DatabaseDep, host: HostInOrg, data: BookingSettingsUpdate
) -> BookingSettings:
    return service.put_booking_settings(db, scope=scope, host=host, data=data)


@router.get("/hosts/{host_id}/bookable-times", response_model=BookableTimes)
def bookable_times(
    scope: GuestScope,
    host: HostInOrg,
    date_from: Annotated[
        LocalDate | None, Query(alias="from", description="First local date (default: today).")
    ] = None,
    date_to: Annotated[
        LocalDate | None,
        Query(alias="to", description="Last local date, inclusive (default: two weeks on)."),
    ] = None,
    tz: Annotated[
        ZoneName | None,
        Query(description="Your zone: the dates and `start_local` are in it (default UTC)."),
    ] = None,
    slot_id: UUID | None = None,
) -> Response:
    """Times the host can be booked at, computed in each slot's zone, returned in UTC and
    in ``tz``: without confirmed bookings, the host's sessions, buffers, the minimum
    notice, past times, blackout days and full days or weeks."""
    zone_name = tz or "UTC"
    first = date_from or local_wall(utc_now(), zone_name).date()
    last = date_to or first + timedelta(days=13)
    found = service.find_bookable_times(
        org_id=scope.org_id,
        host_id=host.id,
        first=first,
        last=last,
        zone=zone_name,
        slot_id=slot_id,
    )
    return model_response(bookable_response(found))


def bookable_response(found: service.BookableRange) -> BookableTimes:
    local = zone(found.zone)
    # Built from values already checked: no second validation of hundreds of items.
    data = [
        BookableTime.model_construct(
            slot_id=item.slot_id,
            start=item.starts_at,
            end=item.ends_at,
            start_local=item.starts_at.astimezone(local),
            end_local=item.ends_at.astimezone(local),
            price_minor=item.price_minor,
            currency=item.currency,
        )
        for item in found.times
    ]
    return BookableTimes.model_construct(
        host_id=found.host_id,
        timezone=found.zone,
        date_from=found.first,
        date_to=found.last,
        data=data,
        count=len(data),
    )
