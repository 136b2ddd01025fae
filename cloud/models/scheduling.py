"""Scheduling: recurring session series and the host's busy time.

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
    ForeignKeyField,
    IntegerField,
    JSONField,
    TextField,
)

from cloud.db import is_postgres
from cloud.models.accounts import Organisation, Team, User
from cloud.models.base import BaseModel, StrEnumField, UtcDateTimeField, new_uuid_pk, utc_now
from cloud.models.enums import BusyKind, SessionType
from cloud.models.forms import FormTemplate
from cloud.models.sessions import Session

__all__ = ["HOST_BUSY_CONSTRAINT", "HostBusy", "SessionSeries", "host_busy_constraint_ddl"]


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
