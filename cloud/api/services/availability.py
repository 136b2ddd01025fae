"""A host's availability: meeting slots, date overrides, booking limits, bookable times.

The rules of what is bookable are :mod:`cloud.scheduling.availability`'s; this
module loads what they need (one query each for slots, overrides, busy rows and
limits) and checks what people write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.query.prepared import PreparedSelect
from cloud.api.schemas.availability import (
    BookingSettings,
    BookingSettingsUpdate,
    OverrideCreate,
    SlotCreate,
    SlotUpdate,
)
from cloud.api.services.references import host_in_org
from cloud.db import database_proxy, write_transaction
from cloud.errors import Conflict, Forbidden, NotFound
from cloud.models import (
    AvailabilityOverride,
    HostBusy,
    HostSchedule,
    MeetingSlot,
    OverrideKind,
    Role,
    User,
    utc_now,
)
from cloud.scheduling.availability import (
    Bookable,
    Busy,
    Limits,
    Override,
    SlotRule,
    bookable_times,
)
from cloud.scheduling.busy import MAX_BUSY_SPAN
from cloud.scheduling.errors import invalid
from cloud.scheduling.zones import combine

__all__ = [
    "MAX_RANGE_DAYS",
    "BookableRange",
    "booking_settings",
    "create_override",
    "create_slot",
    "delete_override",
    "delete_slot",
    "find_bookable_times",
    "get_override",
    "get_slot",
    "list_overrides",
    "list_slots",
    "overrides_for",
    "put_booking_settings",
    "require_active",
    "slot_rule",
    "update_slot",
]

MAX_RANGE_DAYS = 92
"""Bookable times are asked for at most this many days at once."""


def _host(scope: OrgScope, host_id: UUID | None, path: str) -> User:
    """The host named (default: the caller), who must be a host of the org; only
    admins manage another host's availability."""
    if host_id is None or host_id == scope.user_id:
        return host_in_org(scope=scope, user_id=scope.user_id, path=path)
    if not scope.at_least(Role.ADMIN):
        raise Forbidden("only admins manage another host's availability")
    return host_in_org(scope=scope, user_id=host_id, path=path)


# -- slots -----------------------------------------------------------------------------


def get_slot(*, scope: OrgScope, slot_id: UUID, path: str | None = None) -> MeetingSlot:
    row = MeetingSlot.get_or_none(
        (MeetingSlot.id == slot_id)
        & (MeetingSlot.org == scope.org_id)
        & MeetingSlot.deleted_at.is_null()
    )
    if row is None:
        raise NotFound("meeting slot", slot_id, path=path)
    found: MeetingSlot = row
    return found


def list_slots(*, scope: OrgScope, host_id: UUID | None = None) -> list[MeetingSlot]:
    condition = (MeetingSlot.org == scope.org_id) & MeetingSlot.deleted_at.is_null()
    if host_id is not None:
        condition &= MeetingSlot.host == host_id
    return list(
        MeetingSlot.select()
        .where(condition)
        .order_by(MeetingSlot.host, MeetingSlot.day_of_week, MeetingSlot.start_time)
    )


def _check_slot(values: dict[str, Any]) -> None:
    start, end = values["start_time"], values["end_time"]
    if end <= start:
        raise invalid(
            "body.end_time",
            "end_before_start",
            f"end_time {end.isoformat('minutes')} is not after start_time "
            f"{start.isoformat('minutes')}; a slot ends on the day it starts",
        )
    window = datetime.combine(date.min, end) - datetime.combine(date.min, start)
    if timedelta(minutes=values["duration_minutes"]) > window:
        raise invalid(
            "body.duration_minutes",
            "longer_than_window",
            f"{values['duration_minutes']} minutes do not fit between start_time and end_time",
        )
    if values.get("price_minor") is not None and values.get("currency") is None:
        raise invalid("body.currency", "missing", "a price needs its currency (ISO 4217)")


def create_slot(db: Database, *, scope: OrgScope, data: SlotCreate) -> MeetingSlot:
    host = _host(scope, data.host_id, "body.host_id")
    values = data.model_dump(exclude={"host_id"})
    _check_slot(values)
    with write_transaction(db):
        row: MeetingSlot = MeetingSlot.create(org=scope.org_id, host=host.id, **values)
    return row


def _may_manage(scope: OrgScope, host_id: UUID) -> None:
    if host_id != scope.user_id and not scope.at_least(Role.ADMIN):
        raise Forbidden("only admins manage another host's availability")


def update_slot(
    db: Database, *, scope: OrgScope, slot: MeetingSlot, data: SlotUpdate
) -> MeetingSlot:
    _may_manage(scope, slot.host_id)
    changes = data.model_dump(exclude_unset=True)
    for name in ("day_of_week", "start_time", "end_time", "duration_minutes", "timezone"):
        if name in changes and changes[name] is None:
            raise invalid(f"body.{name}", "null", f"{name} cannot be null")
    merged = {**slot.__data__, **changes}
    _check_slot(merged)
    with write_transaction(db):
        MeetingSlot.update(**changes, updated_at=utc_now()).where(
            MeetingSlot.id == slot.id
        ).execute()
    updated: MeetingSlot = MeetingSlot.get_by_id(slot.id)
    return updated


def delete_slot(db: Database, *, scope: OrgScope, slot: MeetingSlot) -> None:
    """Soft delete: bookings keep their slot; no new ones can be made in it."""
    _may_manage(scope, slot.host_id)
    with write_transaction(db):
        MeetingSlot.update(deleted_at=utc_now(), is_active=False).where(
            MeetingSlot.id == slot.id
        ).execute()


def slot_rule(slot: MeetingSlot | Mapping[str, Any]) -> SlotRule:
    """The rule of a slot (a model, or a row of its columns by field name)."""
    row = slot.__data__ if isinstance(slot, MeetingSlot) else slot
    return SlotRule(
        id=row["id"] if isinstance(row["id"], UUID) else UUID(row["id"]),
        day_of_week=row["day_of_week"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        duration=timedelta(minutes=row["duration_minutes"]),
        timezone=row["timezone"],
        buffer_before=timedelta(minutes=row["buffer_before_minutes"]),
        buffer_after=timedelta(minutes=row["buffer_after_minutes"]),
        min_notice=timedelta(minutes=row["min_notice_minutes"]),
        booking_window=timedelta(days=row["booking_window_days"]),
        price_minor=row["price_minor"],
        currency=row["currency"],
        active=bool(row["is_active"]) and row["deleted_at"] is None,
    )


# -- overrides ---------------------------------------------------------------------------


def get_override(*, scope: OrgScope, override_id: UUID) -> AvailabilityOverride:
    row = AvailabilityOverride.get_or_none(
        (AvailabilityOverride.id == override_id) & (AvailabilityOverride.org == scope.org_id)
    )
    if row is None:
        raise NotFound("availability override", override_id)
    found: AvailabilityOverride = row
    return found


def list_overrides(
    *, scope: OrgScope, host_id: UUID | None = None, since: date | None = None
) -> list[AvailabilityOverride]:
    condition = AvailabilityOverride.org == scope.org_id
    if host_id is not None:
        condition &= AvailabilityOverride.host == host_id
    if since is not None:
        condition &= AvailabilityOverride.day >= since
    return list(
        AvailabilityOverride.select()
        .where(condition)
        .order_by(AvailabilityOverride.day, AvailabilityOverride.start_time)
    )


def create_override(db: Database, *, scope: OrgScope, data: OverrideCreate) -> AvailabilityOverride:
    host = _host(scope, data.host_id, "body.host_id")
    if (data.start_time is None) != (data.end_time is None):
        missing = "end_time" if data.end_time is None else "start_time"
        raise invalid(f"body.{missing}", "missing", "give both start_time and end_time, or neither")
    if (
        data.start_time is not None
        and data.end_time is not None
        and data.end_time <= data.start_time
    ):
        raise invalid("body.end_time", "end_before_start", "end_time is not after start_time")
    if data.kind is OverrideKind.EXTRA:
        if data.slot_id is None:
            raise invalid(
                "body.slot_id",
                "missing",
                "extra hours need the slot whose duration and price they use",
            )
        if data.start_time is None:
            raise invalid("body.start_time", "missing", "extra hours need start_time and end_time")
    if data.slot_id is not None:
        slot = get_slot(scope=scope, slot_id=data.slot_id, path="body.slot_id")
        if slot.host_id != host.id:
            raise invalid("body.slot_id", "other_host", "the slot belongs to another host")
    with write_transaction(db):
        row: AvailabilityOverride = AvailabilityOverride.create(
            org=scope.org_id,
            host=host.id,
            day=data.date,
            kind=data.kind,
            start_time=data.start_time,
            end_time=data.end_time,
            timezone=data.timezone,
            slot=data.slot_id,
            note=data.note,
        )
    return row


def delete_override(db: Database, *, scope: OrgScope, override: AvailabilityOverride) -> None:
    _may_manage(scope, override.host_id)
    with write_transaction(db):
        AvailabilityOverride.delete().where(AvailabilityOverride.id == override.id).execute()


# The bookable-times page runs these on every request: rendered by peewee once
# (its query builder costs more than PostgreSQL takes to run them; api.md).
_OVERRIDES = PreparedSelect(
    lambda p: AvailabilityOverride.select().where(
        (AvailabilityOverride.host == p.one("host", AvailabilityOverride.host))
        & (AvailabilityOverride.day >= p.one("first", AvailabilityOverride.day))
        & (AvailabilityOverride.day <= p.one("last", AvailabilityOverride.day))
    )
)
_HOST_SLOTS = PreparedSelect(
    lambda p: MeetingSlot.select().where(
        (MeetingSlot.org == p.one("org", MeetingSlot.org))
        & (MeetingSlot.host == p.one("host", MeetingSlot.host))
        & MeetingSlot.deleted_at.is_null()
    )
)
_BUSY = PreparedSelect(
    lambda p: HostBusy.select(HostBusy.starts_at, HostBusy.ends_at).where(
        (HostBusy.host == p.one("host", HostBusy.host))
        & (HostBusy.starts_at > p.one("earliest", HostBusy.starts_at))
        & (HostBusy.starts_at < p.one("until", HostBusy.starts_at))
        & (HostBusy.ends_at > p.one("since", HostBusy.ends_at))
    )
)
_LIMITS = PreparedSelect(
    lambda p: HostSchedule.select(
        HostSchedule.timezone, HostSchedule.max_per_day, HostSchedule.max_per_week
    ).where(
        (HostSchedule.org == p.one("org", HostSchedule.org))
        & (HostSchedule.host == p.one("host", HostSchedule.host))
    )
)


def overrides_for(host_id: UUID, first: date, last: date) -> list[Override]:
    """The host's overrides between two dates (one day of slack either side for zones)."""
    rows = _OVERRIDES.rows(
        database_proxy,
        host=host_id,
        first=first - timedelta(days=1),
        last=last + timedelta(days=1),
    )
    return [
        Override(
            day=row["day"],
            kind=OverrideKind(row["kind"]),
            timezone=row["timezone"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            slot_id=UUID(row["slot"]) if row["slot"] is not None else None,
        )
        for row in rows
    ]


# -- limits --------------------------------------------------------------------------------


def booking_settings(*, scope: OrgScope, host: User) -> BookingSettings:
    row = HostSchedule.get_or_none(
        (HostSchedule.org == scope.org_id) & (HostSchedule.host == host.id)
    )
    if row is None:
        return BookingSettings(host_id=host.id)
    return BookingSettings(
        host_id=host.id,
        timezone=row.timezone,
        max_per_day=row.max_per_day,
        max_per_week=row.max_per_week,
        late_grace_minutes=row.late_grace_minutes,
    )


def put_booking_settings(
    db: Database, *, scope: OrgScope, host: User, data: BookingSettingsUpdate
) -> BookingSettings:
    _may_manage(scope, host.id)
    with write_transaction(db):
        values = {**data.model_dump(), "updated_at": utc_now()}
        updated = (
            HostSchedule.update(**values)
            .where((HostSchedule.org == scope.org_id) & (HostSchedule.host == host.id))
            .execute()
        )
        if not updated:
            HostSchedule.create(org=scope.org_id, host=host.id, **values)
    return booking_settings(scope=scope, host=host)


# -- bookable times ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookableRange:
    host_id: UUID
    zone: str
    first: date
    last: date
    times: list[Bookable]


def find_bookable_times(
    *,
    org_id: UUID,
    host_id: UUID,
    first: date,
    last: date,
    zone: str,
    slot_id: UUID | None = None,
    now: datetime | None = None,
) -> BookableRange:
    """Bookable starts of the host on the local dates ``first``..``last`` in ``zone``
    (``org_id``'s slots and limits; the host's busy time in every organisation)."""
    now = now or utc_now()
    if last < first:
        raise invalid("query.to", "end_before_start", "`to` is before `from`")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise invalid(
            "query.to", "range_too_long", f"ask for at most {MAX_RANGE_DAYS} days at a time"
        )
    since = combine(first, time(0), zone)
    until = combine(last + timedelta(days=1), time(0), zone)
    condition = (
        (MeetingSlot.org == org_id)
        & (MeetingSlot.host == host_id)
        & MeetingSlot.deleted_at.is_null()
    )
    if slot_id is not None:
        condition &= MeetingSlot.id == slot_id
    slots = [slot_rule(slot) for slot in MeetingSlot.select().where(condition)]
    if slot_id is not None and not slots:
        raise NotFound("meeting slot", slot_id, path="query.slot_id")
    overrides = overrides_for(host_id, first, last)
    earliest, latest = since - timedelta(days=8), until + timedelta(days=8)
    busy = [
        Busy(row["starts_at"], row["ends_at"])
        for row in _BUSY.rows(
            database_proxy,
            host=host_id,
            earliest=earliest - MAX_BUSY_SPAN,
            until=latest,
            since=earliest,
        )
    ]
    stored = _LIMITS.first(database_proxy, org=org_id, host=host_id)
    limits = (
        Limits(stored["timezone"], stored["max_per_day"], stored["max_per_week"])
        if stored is not None and (stored["max_per_day"] or stored["max_per_week"])
        else None
    )
    times = bookable_times(slots, overrides, busy, limits, since=since, until=until, now=now)
    return BookableRange(host_id=host_id, zone=zone, first=first, last=last, times=times)


def require_active(slot: MeetingSlot) -> None:
    if not slot.is_active or slot.deleted_at is not None:
        raise Conflict(f"meeting slot {slot.id} is not active", code="slot_inactive")
