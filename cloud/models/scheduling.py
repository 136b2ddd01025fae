"""Scheduling: recurring series, availability (slots, overrides, limits), bookings,
and the host's busy time.

``host_busy`` is the one table every claim on a host's time writes (a session
they host, a booking with them): on PostgreSQL an exclusion constraint refuses
two rows of one host whose ``[starts_at, ends_at)`` ranges overlap, on SQLite
triggers do the same, so no code path can double-book a host, whatever it
checked before. The rules are in docs/scheduling.md.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from peewee import (
    BooleanField,
    CharField,
    Check,
    Database,
    DateField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    TextField,
    TimeField,
)

from cloud.db import is_postgres
from cloud.models.accounts import Organisation, Team, User
from cloud.models.base import BaseModel, StrEnumField, UtcDateTimeField, new_uuid_pk, utc_now
from cloud.models.enums import BookingStatus, BusyKind, OverrideKind, SessionType
from cloud.models.forms import FormTemplate
from cloud.models.sessions import Session

__all__ = [
    "HOST_BUSY_CONSTRAINT",
    "AvailabilityOverride",
    "Booking",
    "CalendarFeed",
    "HostBusy",
    "HostSchedule",
    "MeetingSlot",
    "SessionSeries",
    "host_busy_constraint_ddl",
]


class SessionSeries(BaseModel):
    """A recurring session: the template of its occurrences and its rule.

    ``start_local`` is the first occurrence's wall time in ``timezone`` (ISO text
    without offset); ``rrule`` the RFC 5545 rule. Occurrences are ``session`` rows
    with ``recurrence_id`` = this id and ``occurrence_at`` = the instant the rule
    gave them; they exist up to ``materialised_until``.
    """

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="series", on_delete="CASCADE", index=False)
    org_id: UUID
    team = ForeignKeyField(Team, null=True, on_delete="SET NULL", index=False)
    team_id: UUID | None
    host = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    host_id: UUID | None
    title = TextField()
    description = TextField(null=True)
    type = StrEnumField(SessionType, default=SessionType.PRACTICE)
    start_local = CharField(max_length=19)  # 'YYYY-MM-DDTHH:MM:SS'
    timezone = CharField(max_length=64)
    rrule = TextField()
    duration_minutes = IntegerField(constraints=[Check("duration_minutes > 0")])
    meeting_url = TextField(null=True)
    meeting_provider = CharField(max_length=64, null=True)
    max_participants = IntegerField(null=True, constraints=[Check("max_participants > 0")])
    is_free = BooleanField(default=True)
    price_minor = IntegerField(null=True, constraints=[Check("price_minor >= 0")])
    currency = CharField(max_length=3, null=True)
    form_template = ForeignKeyField(FormTemplate, null=True, on_delete="SET NULL", index=False)
    form_template_id: UUID | None
    devices = JSONField(default=list)  # [{"device_id", "camera_id"}], checked when written
    auto_start = BooleanField(default=False)
    late_grace_minutes = IntegerField(null=True, constraints=[Check("late_grace_minutes >= 0")])
    # Occurrences starting before this instant exist as sessions; null: all of them
    # (a finite series is materialised whole when it is created).
    materialised_until = UtcDateTimeField(null=True)
    continues = ForeignKeyField("self", null=True, on_delete="SET NULL", index=False)
    continues_id: UUID | None
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    created_by_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now)
    cancelled_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = (
            (("org", "created_at", "id"), False),
            (("materialised_until",), False),
        )
        constraints = [Check("is_free OR (price_minor IS NOT NULL AND currency IS NOT NULL)")]


class MeetingSlot(BaseModel):
    """Spec 000's MeetingSlot: a weekly window a host can be booked in, and how.

    ``day_of_week`` 0 = Monday … 6 = Sunday (ISO 8601, Python's ``weekday()``);
    ``start_time``/``end_time`` are local wall times in ``timezone``.
    """

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    org_id: UUID
    host = ForeignKeyField(User, on_delete="CASCADE", index=False)
    host_id: UUID
    title = TextField(null=True)
    day_of_week = IntegerField(constraints=[Check("day_of_week BETWEEN 0 AND 6")])
    start_time = TimeField()
    end_time = TimeField()
    duration_minutes = IntegerField(constraints=[Check("duration_minutes > 0")])
    timezone = CharField(max_length=64)
    is_active = BooleanField(default=True)
    price_minor = IntegerField(null=True, constraints=[Check("price_minor >= 0")])
    currency = CharField(max_length=3, null=True)
    buffer_before_minutes = IntegerField(
        default=0, constraints=[Check("buffer_before_minutes >= 0")]
    )
    buffer_after_minutes = IntegerField(default=0, constraints=[Check("buffer_after_minutes >= 0")])
    min_notice_minutes = IntegerField(default=0, constraints=[Check("min_notice_minutes >= 0")])
    booking_window_days = IntegerField(default=60, constraints=[Check("booking_window_days > 0")])
    meeting_url = TextField(null=True)
    meeting_provider = CharField(max_length=64, null=True)
    created_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now)
    deleted_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("host", "day_of_week"), False), (("org", "created_at", "id"), False))
        constraints = [
            Check("end_time > start_time"),
            Check("price_minor IS NULL OR currency IS NOT NULL"),
        ]


class AvailabilityOverride(BaseModel):
    """One date of a host's that differs: no bookings (``blackout``, the whole local
    day or between the times) or extra hours (``extra``, with ``slot``'s parameters)."""

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    org_id: UUID
    host = ForeignKeyField(User, on_delete="CASCADE", index=False)
    host_id: UUID
    day = DateField()
    kind = StrEnumField(OverrideKind)
    start_time = TimeField(null=True)
    end_time = TimeField(null=True)
    timezone = CharField(max_length=64)
    slot = ForeignKeyField(MeetingSlot, null=True, on_delete="CASCADE", index=False)
    slot_id: UUID | None
    note = TextField(null=True)
    created_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("host", "day"), False),)
        constraints = [
            Check("(start_time IS NULL) = (end_time IS NULL)"),
            Check("end_time IS NULL OR end_time > start_time"),
            Check("kind = 'blackout' OR (slot_id IS NOT NULL AND start_time IS NOT NULL)"),
        ]


class HostSchedule(BaseModel):
    """A host's booking limits in an organisation: at most ``max_per_day`` /
    ``max_per_week`` bookings and hosted sessions together, counted by their
    start in ``timezone`` (weeks from Monday)."""

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    org_id: UUID
    host = ForeignKeyField(User, on_delete="CASCADE", index=False)
    host_id: UUID
    timezone = CharField(max_length=64, default="UTC")
    max_per_day = IntegerField(null=True, constraints=[Check("max_per_day > 0")])
    max_per_week = IntegerField(null=True, constraints=[Check("max_per_week > 0")])
    late_grace_minutes = IntegerField(default=5, constraints=[Check("late_grace_minutes >= 0")])
    updated_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("org", "host"), True),)


class Booking(BaseModel):
    """Spec 000's MeetingBooking: a guest's meeting with a host in one of their slots.

    ``starts_at``/``ends_at`` are the instants; ``scheduled_date``, ``start_time``
    and ``end_time`` the same in the slot's ``timezone`` (spec 000's fields).
    """

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    org_id: UUID
    slot = ForeignKeyField(MeetingSlot, on_delete="CASCADE", index=False)
    slot_id: UUID
    host = ForeignKeyField(User, on_delete="CASCADE", index=False)
    host_id: UUID
    guest = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    guest_id: UUID | None
    guest_name = TextField(null=True)
    guest_email = CharField(max_length=254, null=True)
    starts_at = UtcDateTimeField()
    ends_at = UtcDateTimeField()
    timezone = CharField(max_length=64)
    scheduled_date = DateField()
    start_time = TimeField()
    end_time = TimeField()
    status = StrEnumField(BookingStatus, default=BookingStatus.CONFIRMED)
    meeting_url = TextField(null=True)
    meeting_provider = CharField(max_length=64, null=True)
    notes = TextField(null=True)
    price_minor = IntegerField(null=True, constraints=[Check("price_minor >= 0")])
    currency = CharField(max_length=3, null=True)
    cancellation_reason = TextField(null=True)
    cancelled_at = UtcDateTimeField(null=True)
    cancelled_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    cancelled_by_id: UUID | None
    cancelled_by_guest = BooleanField(default=False)  # through the guest's link
    rescheduled_from = ForeignKeyField("self", null=True, on_delete="SET NULL", index=False)
    rescheduled_from_id: UUID | None
    rescheduled_to = ForeignKeyField("self", null=True, on_delete="SET NULL", unique=True)
    rescheduled_to_id: UUID | None
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    created_by_id: UUID | None
    idempotency_key = CharField(max_length=200, null=True)
    request_hash = CharField(max_length=64, null=True)
    created_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = (
            (("org", "starts_at", "id"), False),
            (("host", "starts_at"), False),
            (("guest", "starts_at"), False),
            (("created_by", "idempotency_key"), True),
        )
        constraints = [
            Check("ends_at > starts_at"),
            Check("guest_id IS NOT NULL OR guest_name IS NOT NULL"),
            Check("price_minor IS NULL OR currency IS NOT NULL"),
        ]


HOST_BUSY_CONSTRAINT = "host_busy_no_overlap"


class HostBusy(BaseModel):
    """Time a host has promised: one row per hosted session or booking (with its buffers).

    ``ends_at > starts_at``; two rows of one host never overlap (the database
    refuses it: see :func:`host_busy_constraint_ddl`). Touching ranges
    (``[10:00, 11:00)`` and ``[11:00, 12:00)``) do not overlap.
    """

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    org_id: UUID
    host = ForeignKeyField(User, on_delete="CASCADE", index=False)
    host_id: UUID
    starts_at = UtcDateTimeField()
    ends_at = UtcDateTimeField()
    kind = StrEnumField(BusyKind)
    session = ForeignKeyField(Session, null=True, unique=True, on_delete="CASCADE")
    session_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)
    booking = ForeignKeyField(Booking, null=True, unique=True, on_delete="CASCADE")
    booking_id: UUID | None

    class Meta:
        indexes = ((("host", "starts_at"), False),)
        constraints = [Check("ends_at > starts_at")]

    @classmethod
    def create_table(cls, safe: bool = True, **options: Any) -> None:
        """The table and the no-overlap rule (so ``create_tables`` builds both)."""
        if safe and cls.table_exists():
            return
        super().create_table(safe=safe, **options)
        database = cls._meta.database
        for statement in host_busy_constraint_ddl(database):
            database.execute_sql(statement)


def host_busy_constraint_ddl(database: Database | Any) -> list[str]:
    """The statements that make the database refuse overlapping busy rows of one host.

    PostgreSQL: an exclusion constraint over ``tstzrange(starts_at, ends_at)``
    (``btree_gist`` gives GiST its ``=`` on uuids). SQLite: triggers before
    insert and update (times are fixed-width UTC text, so text order is time order).
    """
    if is_postgres(database):
        return [
            "CREATE EXTENSION IF NOT EXISTS btree_gist",
            f'ALTER TABLE "host_busy" ADD CONSTRAINT "{HOST_BUSY_CONSTRAINT}" EXCLUDE USING gist '
            '("host_id" WITH =, tstzrange("starts_at", "ends_at", \'[)\') WITH &&)',
        ]
    overlap = (
        "SELECT 1 FROM host_busy AS other WHERE other.host_id = NEW.host_id "
        "AND other.id != NEW.id AND other.starts_at < NEW.ends_at AND other.ends_at > NEW.starts_at"
    )
    fail = f"SELECT RAISE(ABORT, '{HOST_BUSY_CONSTRAINT}')"
    return [
        f"CREATE TRIGGER IF NOT EXISTS {HOST_BUSY_CONSTRAINT}_insert BEFORE INSERT ON host_busy "
        f"WHEN EXISTS ({overlap}) BEGIN {fail}; END",
        f"CREATE TRIGGER IF NOT EXISTS {HOST_BUSY_CONSTRAINT}_update BEFORE UPDATE OF "
        f"host_id, starts_at, ends_at ON host_busy WHEN EXISTS ({overlap}) BEGIN {fail}; END",
    ]


class CalendarFeed(BaseModel):
    """A secret ``.ics`` URL showing a host's or a team's schedule (one of the two).

    Only the SHA-256 of the token is stored; the URL is shown once."""

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    org_id: UUID
    host = ForeignKeyField(User, null=True, on_delete="CASCADE", index=False)
    host_id: UUID | None
    team = ForeignKeyField(Team, null=True, on_delete="CASCADE", index=False)
    team_id: UUID | None
    name = TextField()
    token_hash = CharField(max_length=64, unique=True)
    token_prefix = CharField(max_length=16)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    created_by_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)
    revoked_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("org", "created_at"), False),)
        constraints = [Check("(host_id IS NULL) != (team_id IS NULL)")]
