"""The host's busy time: every session they host and every booking with them.

Writers call these inside their own write transaction:

1. :func:`lock_host` first. On PostgreSQL it takes a transaction-scoped
   advisory lock per host, so concurrent writers for one host queue and each
   sees what the one before committed (SQLite's ``BEGIN IMMEDIATE`` already
   serialises every writer).
2. :func:`claim` checks for overlaps (to name them in the answer) and inserts
   the row. The database refuses an overlap by itself (``host_busy``'s
   exclusion constraint or triggers), so a writer that forgot the lock still
   cannot double-book; that refusal is mapped to the same :class:`TimeTaken`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from peewee import Database, IntegrityError

from cloud.db import is_postgres
from cloud.errors import Conflict
from cloud.models import BusyKind, HostBusy, HostSchedule, Session, SessionStatus
from cloud.models.scheduling import HOST_BUSY_CONSTRAINT
from cloud.scheduling.availability import Busy, DayCounts, Limits
from cloud.scheduling.errors import BusyConflict, TimeTaken

__all__ = [
    "DEFAULT_SESSION_MINUTES",
    "LimitReached",
    "busy_between",
    "busy_spans",
    "claim",
    "conflicts_with",
    "host_limits",
    "lock_host",
    "lock_hosts",
    "release_session",
    "session_interval",
    "sync_session",
]

DEFAULT_SESSION_MINUTES = 60
"""How long a hosted session without a duration holds its host's time."""
MAX_BUSY_SPAN = timedelta(days=8)
"""No busy row is longer (sessions last at most 7 days, buffers at most 12 hours each):
overlap queries range-scan ``(host, starts_at)`` from ``start - MAX_BUSY_SPAN``."""

_LOCK_CLASS = 0x5C4E  # advisory lock namespace of host locks (two-key form)
_HELD_STATUSES = (
    SessionStatus.DRAFT,
    SessionStatus.SCHEDULED,
    SessionStatus.LIVE,
    SessionStatus.ENDED,
)


class LimitReached(Conflict):
    """The host's day or week is full (``host_schedule``'s limits)."""

    code = "limit_reached"


def host_limits(org_id: UUID, host_id: UUID) -> Limits | None:
    """The host's limits in the organisation, or None if they set none."""
    row = HostSchedule.get_or_none((HostSchedule.org == org_id) & (HostSchedule.host == host_id))
    if row is None or (row.max_per_day is None and row.max_per_week is None):
        return None
    return Limits(timezone=row.timezone, per_day=row.max_per_day, per_week=row.max_per_week)


def check_limits(limits: Limits | None, host_id: UUID, starts: Sequence[datetime]) -> int | None:
    """The index of the first of ``starts`` that the host's limits leave no room for
    (each counted as taken once accepted), or None. One query for the whole range."""
    if limits is None or not starts:
        return None
    spans = busy_spans(host_id, min(starts) - timedelta(days=8), max(starts) + timedelta(days=8))
    counts = DayCounts(limits, spans)
    for index, start in enumerate(starts):
        if counts.full(start):
            return index
        counts.add(start)
    return None


def _describe_limits(limits: Limits) -> str:
    parts = []
    if limits.per_day is not None:
        parts.append(f"{limits.per_day} a day")
    if limits.per_week is not None:
        parts.append(f"{limits.per_week} a week")
    return " and ".join(parts) + f" ({limits.timezone})"


def lock_host(db: Database, host_id: UUID | None) -> None:
    lock_hosts(db, [host_id] if host_id is not None else [])


def lock_hosts(db: Database, host_ids: Iterable[UUID | None]) -> None:
    """Serialise writers of these hosts' time until the transaction ends (sorted, so two
    writers locking the same hosts cannot deadlock)."""
    if not is_postgres(db):
        return  # SQLite: the IMMEDIATE transaction holds the database's write lock
    for host_id in sorted({h for h in host_ids if h is not None}, key=str):
        db.execute_sql(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, str(host_id))
        )


def session_interval(session: Session) -> tuple[datetime, datetime] | None:
    """The time a session holds its host's calendar, or None if it holds none."""
    if session.host_id is None or session.scheduled_at is None:
        return None
    if session.deleted_at is not None or session.status not in _HELD_STATUSES:
        return None
    minutes = session.duration_minutes or DEFAULT_SESSION_MINUTES
    return session.scheduled_at, session.scheduled_at + timedelta(minutes=minutes)


def conflicts_with(
    host_id: UUID,
    starts_at: datetime,
    ends_at: datetime,
    *,
    org_id: UUID,
    ignore: Sequence[UUID] = (),
) -> list[BusyConflict]:
    """The host's busy rows that overlap ``[starts_at, ends_at)``. Ids of another
    organisation's sessions or bookings are not named."""
    query = HostBusy.select().where(_overlapping(host_id, starts_at, ends_at))
    if ignore:
        query = query.where(HostBusy.id.not_in(list(ignore)))
    return [_conflict(row, org_id) for row in query.order_by(HostBusy.starts_at)]


def _conflict(row: HostBusy, org_id: UUID) -> BusyConflict:
    ref = row.session_id if row.kind == BusyKind.SESSION else getattr(row, "booking_id", None)
    return BusyConflict(
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        kind=str(row.kind),
        ref=ref if row.org_id == org_id else None,
    )


def claim(
    db: Database,
    *,
    org_id: UUID,
    host_id: UUID,
    starts_at: datetime,
    ends_at: datetime,
    kind: BusyKind,
    session_id: UUID | None = None,
    booking_id: UUID | None = None,
    what: str = "this time",
) -> HostBusy:
    """Insert a busy row, or raise :class:`TimeTaken` naming what it overlaps.
    Call inside a write transaction, after :func:`lock_host`."""
    limits = host_limits(org_id, host_id)
    if check_limits(limits, host_id, [starts_at]) is not None:
        assert limits is not None
        raise LimitReached(
            f"the host takes at most {_describe_limits(limits)} bookings and sessions; "
            f"{what} would be one more"
        )
    found = conflicts_with(host_id, starts_at, ends_at, org_id=org_id)
    if found:
        raise TimeTaken(
            f"{what} overlaps the host's {found[0].describe()}"
            + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""),
            conflicts=found,
        )
    values: dict[str, object] = {
        "org": org_id,
        "host": host_id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "kind": kind,
        "session": session_id,
    }
    if booking_id is not None:
        values["booking"] = booking_id
    try:
        with db.atomic():  # a savepoint: a refused row leaves the transaction usable
            row: HostBusy = HostBusy.create(**values)
    except IntegrityError as exc:
        if HOST_BUSY_CONSTRAINT not in str(exc):
            raise
        raise TimeTaken(f"{what} overlaps another of the host's sessions or bookings") from None
    return row


def release_session(session_id: UUID) -> int:
    return int(HostBusy.delete().where(HostBusy.session == session_id).execute())


def sync_session(db: Database, session_id: UUID, *, what: str = "the session") -> None:
    """Make the session's busy row match the session (after it was created or changed):
    claimed while it holds its host's time, gone otherwise."""
    session = Session.get_by_id(session_id)
    interval = session_interval(session)
    current = HostBusy.get_or_none(HostBusy.session == session_id)
    if current is not None and interval is not None:
        same = (current.host_id, current.starts_at, current.ends_at) == (session.host_id, *interval)
        if same:
            return
    lock_hosts(db, [session.host_id, current.host_id if current is not None else None])
    if current is not None:
        HostBusy.delete().where(HostBusy.id == current.id).execute()
    if interval is not None:
        assert session.host_id is not None  # an interval needs a host
        claim(
            db,
            org_id=session.org_id,
            host_id=session.host_id,
            starts_at=interval[0],
            ends_at=interval[1],
            kind=BusyKind.SESSION,
            session_id=session_id,
            what=what,
        )


def busy_between(host_id: UUID, starts_at: datetime, ends_at: datetime) -> list[HostBusy]:
    """The host's busy rows that overlap ``[starts_at, ends_at)``, in order."""
    return list(
        HostBusy.select()
        .where(_overlapping(host_id, starts_at, ends_at))
        .order_by(HostBusy.starts_at)
    )


def busy_spans(host_id: UUID, starts_at: datetime, ends_at: datetime) -> list[Busy]:
    """Just the times of :func:`busy_between`'s rows (no model objects: the bookable-times
    page reads hundreds of them)."""
    query = (
        HostBusy.select(HostBusy.starts_at, HostBusy.ends_at)
        .where(_overlapping(host_id, starts_at, ends_at))
        .tuples()
    )
    return [
        Busy(_instant(start), _instant(end))
        for start, end in cast(Iterable[tuple[Any, Any]], query)
    ]


def _instant(value: Any) -> datetime:
    converted = HostBusy.starts_at.python_value(value)
    assert converted is not None  # the columns are NOT NULL
    return converted


def _overlapping(host_id: UUID, starts_at: datetime, ends_at: datetime) -> object:
    return (
        (HostBusy.host == host_id)
        & (HostBusy.starts_at > starts_at - MAX_BUSY_SPAN)
        & (HostBusy.starts_at < ends_at)
        & (HostBusy.ends_at > starts_at)
    )
