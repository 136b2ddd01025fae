"""Recurring sessions: a series, its occurrence sessions, and edits from one on.

Occurrences are ordinary sessions (``recurrence_id`` = the series,
``occurrence_at`` = the instant the rule gave them), so registrations,
attendance, devices and the lifecycle work on each as on any session; editing
or cancelling one occurrence goes through the sessions routes. A series with
an end (count or until) is materialised whole when it is created; an
open-ended one up to the horizon, which :func:`extend_series` pushes forward.

Every write takes the host's lock first and checks the whole set of
occurrences against the host's busy time: all of them fit, or none is written
(409 ``time_taken`` lists each occurrence that does not). The rules are in
docs/scheduling.md.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, cast
from uuid import UUID

from peewee import Database, IntegrityError, fn

from cloud.api.access.scope import OrgScope
from cloud.api.query.cursor import Order, keyset, paginate
from cloud.api.schemas.series import (
    RuleIn,
    SeriesCancel,
    SeriesCreate,
    SeriesPublic,
    SeriesUpdate,
)
from cloud.api.schemas.sessions import SessionDevicePublic, SessionDeviceRef
from cloud.api.services.references import device_in_org
from cloud.api.services.sessions import current_form_version, resolve_references
from cloud.db import insert_rows, is_postgres, write_transaction
from cloud.errors import Conflict, FieldProblem, NotFound
from cloud.models import (
    BusyKind,
    HostBusy,
    Session,
    SessionDevice,
    SessionSeries,
    SessionStatus,
    SessionTransition,
    utc_now,
)
from cloud.models.scheduling import HOST_BUSY_CONSTRAINT
from cloud.outbox import wake
from cloud.scheduling.availability import Busy, DayCounts
from cloud.scheduling.busy import (
    MAX_BUSY_SPAN,
    busy_between,
    host_limits,
    lock_hosts,
    release_session,
)
from cloud.scheduling.errors import TimeTaken, invalid
from cloud.scheduling.recurrence import RuleError, Series
from cloud.scheduling.zones import local_wall, to_utc
from cloud.webhooks import EventType, emit
from cloud.webhooks.payloads import session_data
from protocol.ids import new_id

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "SeriesOutcome",
    "cancel_series",
    "create_series",
    "due_for_extension",
    "extend_series",
    "get_series",
    "list_series",
    "series_occurrences",
    "series_public",
    "series_rule",
    "update_series",
]

DEFAULT_HORIZON_DAYS = 365
"""Open-ended series exist as sessions this far ahead (``api.scheduling.horizon_days``)."""

_OPEN = (SessionStatus.DRAFT, SessionStatus.SCHEDULED)
_TIMING = frozenset({"start_time", "timezone", "duration_minutes", "rule"})
_COPIED = (
    "title",
    "description",
    "type",
    "meeting_url",
    "meeting_provider",
    "max_participants",
    "is_free",
    "price_minor",
    "currency",
    "auto_start",
    "late_grace_minutes",
)
"""Template fields an occurrence takes from its series as they are."""


@dataclass(frozen=True)
class SeriesOutcome:
    series: SessionSeries
    continued_by: SessionSeries | None = None  # the series that carries on after a split
    created: int = 0  # occurrence sessions written
    changed: int = 0  # existing occurrences changed
    removed: int = 0  # occurrences cancelled (or removed when nobody had registered)


def series_rule(row: SessionSeries) -> Series:
    return Series(datetime.fromisoformat(row.start_local), row.timezone, row.rrule)


# -- reading -----------------------------------------------------------------------


def get_series(*, scope: OrgScope, series_id: UUID) -> SessionSeries:
    row = SessionSeries.get_or_none(
        (SessionSeries.id == series_id) & (SessionSeries.org == scope.org_id)
    )
    if row is None:
        raise NotFound("series", series_id)
    return row


def list_series(
    *, scope: OrgScope, host_id: UUID | None = None, cursor: str | None, limit: int
) -> tuple[list[SessionSeries], str | None]:
    """Series of the organisation, newest first (keyset on ``created_at, id``)."""
    condition = SessionSeries.org == scope.org_id
    if host_id is not None:
        condition &= SessionSeries.host == host_id
    return paginate(
        keyset(
            SessionSeries.select().where(condition),
            SessionSeries.created_at,
            SessionSeries.id,
            Order.DESC,
        ),
        listing="series:desc",
        cursor=cursor,
        limit=limit,
        key=lambda row: (row.created_at, row.id),
    )


def series_occurrences(
    *,
    scope: OrgScope,
    series: SessionSeries,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[Session]:
    """The series' occurrence sessions in time order (not deleted)."""
    condition = (
        (Session.org == scope.org_id)
        & (Session.recurrence_id == series.id)
        & Session.deleted_at.is_null()
    )
    if since is not None:
        condition &= Session.scheduled_at >= since
    if until is not None:
        condition &= Session.scheduled_at < until
    return list(Session.select().where(condition).order_by(Session.scheduled_at).limit(limit))


def series_public(
    rows: Sequence[SessionSeries], *, now: datetime | None = None
) -> list[SeriesPublic]:
    """Public views of ``rows`` (two grouped queries for counts and next occurrences)."""
    if not rows:
        return []
    now = now or utc_now()
    ids = [row.id for row in rows]
    counted = (
        Session.select(Session.recurrence_id, fn.COUNT(Session.id))
        .where(Session.recurrence_id.in_(ids) & Session.deleted_at.is_null())
        .group_by(Session.recurrence_id)
        .tuples()
    )
    counts = dict(cast(Iterable[tuple[UUID, int]], counted))
    firsts = (
        Session.select(Session.recurrence_id, fn.MIN(Session.scheduled_at))
        .where(
            Session.recurrence_id.in_(ids)
            & Session.deleted_at.is_null()
            & Session.status.in_(list(_OPEN))
            & (Session.scheduled_at >= now)
        )
        .group_by(Session.recurrence_id)
        .tuples()
    )
    upcoming = {
        series_id: Session.scheduled_at.python_value(first)
        for series_id, first in cast(Iterable[tuple[UUID, Any]], firsts)
    }
    return [
        SeriesPublic(
            id=row.id,
            title=row.title,
            description=row.description,
            type=row.type,
            team_id=row.team_id,
            host_id=row.host_id,
            start_local=row.start_local,
            timezone=row.timezone,
            rrule=row.rrule,
            duration_minutes=row.duration_minutes,
            meeting_url=row.meeting_url,
            meeting_provider=row.meeting_provider,
            max_participants=row.max_participants,
            is_free=row.is_free,
            price_minor=row.price_minor,
            currency=row.currency,
            form_template_id=row.form_template_id,
            devices=[SessionDevicePublic(**ref) for ref in row.devices or []],
            auto_start=row.auto_start,
            late_grace_minutes=row.late_grace_minutes,
            materialised_until=row.materialised_until,
            continues_id=row.continues_id,
            occurrences=counts.get(row.id, 0),
            next_occurrence_at=upcoming.get(row.id),
            created_at=row.created_at,
            updated_at=row.updated_at,
            cancelled_at=row.cancelled_at,
        )
        for row in rows
    ]


# -- creating ------------------------------------------------------------------------


def create_series(
    db: Database,
    *,
    scope: OrgScope,
    data: SeriesCreate,
    now: datetime | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> SeriesOutcome:
    """Create the series and its occurrences (all, or up to the horizon), checked
    against the host's time all-or-nothing."""
    now = now or utc_now()
    if to_utc(data.start, data.timezone) < now:
        raise invalid(
            "body.start",
            "in_the_past",
            "a series starts in the future; give the first occurrence's local time from now on",
        )
    try:
        rule = Series.create(data.rule.to_rule(), data.start, data.timezone)
    except RuleError as exc:
        raise invalid(f"body.rule.{exc.field}", "bad_rule", exc.message) from None
    values = data.model_dump(exclude={"start", "rule", "devices"})
    devices = _checked_devices(scope, data.devices, "body.devices")
    with write_transaction(db):
        references = resolve_references(scope, values)
        host = references.get("host")
        lock_hosts(db, [host.id if host is not None else None])
        row = SessionSeries.create(
            org=scope.org_id,
            team=references.get("team"),
            host=host,
            form_template=references.get("form_template"),
            start_local=rule.start_wall.isoformat(),
            timezone=data.timezone,
            rrule=rule.rrule,
            duration_minutes=data.duration_minutes,
            devices=devices,
            created_by=scope.user_id,
            created_at=now,
            updated_at=now,
            **{name: values[name] for name in _COPIED},
        )
        horizon = None if rule.is_finite else now + timedelta(days=horizon_days)
        created = _materialise(db, row, rule, before=horizon, now=now, strict=True)
        if horizon is not None:
            SessionSeries.update(materialised_until=horizon).where(
                SessionSeries.id == row.id
            ).execute()
    return SeriesOutcome(series=SessionSeries.get_by_id(row.id), created=created)


def _checked_devices(
    scope: OrgScope, refs: Sequence[SessionDeviceRef], path: str
) -> list[dict[str, str | None]]:
    unique: list[dict[str, str | None]] = []
    for index, ref in enumerate(refs):
        device_in_org(scope=scope, device_id=ref.device_id, path=f"{path}[{index}].device_id")
        value = {"device_id": ref.device_id, "camera_id": ref.camera_id}
        if value not in unique:
            unique.append(value)
    return unique


def _materialise(
    db: Database,
    row: SessionSeries,
    rule: Series,
    *,
    now: datetime,
    after_: datetime | None = None,
    before: datetime | None = None,
    strict: bool,
) -> int:
    """Write the occurrences in ``[after_, before)`` that do not exist yet.

    ``strict``: any occurrence the host has no time for refuses the whole write
    (a person is creating or changing the series). Otherwise (extending to the
    horizon) such an occurrence is written as cancelled, with the reason, so that
    it shows in the schedule and nothing is skipped silently.
    """
    instants = list(rule.occurrences(after=after_, before=before))
    if not instants:
        return 0
    existing = {
        session.occurrence_at
        for session in Session.select(Session.occurrence_at).where(
            (Session.recurrence_id == row.id)
            & (Session.occurrence_at >= instants[0])
            & (Session.occurrence_at <= instants[-1])
        )
    }
    instants = [instant for instant in instants if instant not in existing]
    if not instants:
        return 0
    duration = timedelta(minutes=row.duration_minutes)
    for earlier, later in itertools.pairwise(instants):
        if earlier + duration > later:
            raise invalid(
                "body.duration_minutes",
                "occurrences_overlap",
                f"occurrences would overlap: {row.duration_minutes} minutes is longer than the "
                f"time between {earlier.isoformat()} and {later.isoformat()}",
            )
    refused = _refused_occurrences(row, instants, duration)
    if refused and strict:
        details = [
            (
                f"occurrences[{index}]",
                "time_taken",
                f"{local_wall(instants[index], row.timezone).isoformat()} {row.timezone}: {why}",
            )
            for index, why in sorted(refused.items())
        ]
        raise TimeTaken(
            f"the host has no time for {len(refused)} of {len(instants)} occurrences; "
            f"nothing was written (first: {details[0][2]})",
            fields=[FieldProblem(*detail) for detail in details[:100]],
        )
    form = row.form_template if row.form_template_id is not None else None
    version = current_form_version(form) if form is not None else None
    sessions: list[dict[str, Any]] = []
    transitions: list[dict[str, Any]] = []
    devices: list[dict[str, Any]] = []
    busy: list[dict[str, Any]] = []
    for index, instant in enumerate(instants):
        session_id = new_id()
        status = SessionStatus.CANCELLED if index in refused else SessionStatus.SCHEDULED
        reason = f"not held: {refused[index]}" if index in refused else None
        sessions.append(
            {
                "id": session_id,
                "org": row.org_id,
                "team": row.team_id,
                "host": row.host_id,
                "status": status,
                "scheduled_at": instant,
                "duration_minutes": row.duration_minutes,
                "timezone": row.timezone,
                "form_template": row.form_template_id,
                "form_version": version.id if version is not None else None,
                "recurrence_id": row.id,
                "occurrence_at": instant,
                "created_by": row.created_by_id,
                "created_at": now,
                "updated_at": now,
                "cancelled_at": now if reason else None,
                "cancel_reason": reason,
                **{name: getattr(row, name) for name in _COPIED},
            }
        )
        transitions.append(
            {"id": new_id(), "session": session_id, "to_status": status, "occurred_at": now}
        )
        devices.extend(
            {"id": new_id(), "session": session_id, "device": ref["device_id"],
             "camera_id": ref["camera_id"], "created_at": now}
            for ref in row.devices or []
        )  # fmt: skip
        if row.host_id is not None and reason is None:
            busy.append(
                {
                    "id": new_id(),
                    "org": row.org_id,
                    "host": row.host_id,
                    "starts_at": instant,
                    "ends_at": instant + duration,
                    "kind": BusyKind.SESSION,
                    "session": session_id,
                    "created_at": now,
                }
            )
    for model, rows in (
        (Session, sessions),
        (SessionTransition, transitions),
        (SessionDevice, devices),
    ):
        insert_rows(db, model, rows)
    try:
        with db.atomic():
            insert_rows(db, HostBusy, busy)
    except IntegrityError as exc:  # a writer that did not take the host's lock
        if HOST_BUSY_CONSTRAINT not in str(exc):
            raise
        raise TimeTaken(
            "an occurrence overlaps another of the host's sessions or bookings"
        ) from None
    # Occurrences written cancelled (extension found the host's time taken) are news too.
    _announce_cancelled([row["id"] for row in sessions if row["cancel_reason"]], now)
    return len(instants)


def _refused_occurrences(
    row: SessionSeries, instants: Sequence[datetime], duration: timedelta
) -> dict[int, str]:
    """Occurrence index -> what of the host's it overlaps (one query for the whole range)."""
    if row.host_id is None:
        return {}
    # Whole weeks either side, for the limits' counts.
    taken = busy_between(
        row.host_id, instants[0] - timedelta(days=8), instants[-1] + duration + timedelta(days=8)
    )
    starts = [busy.starts_at for busy in taken]
    refused: dict[int, str] = {}
    for index, start in enumerate(instants):
        end = start + duration
        position = bisect.bisect_left(starts, end)  # rows starting before our end
        for earlier in range(position - 1, -1, -1):
            busy = taken[earlier]
            if busy.starts_at <= start - MAX_BUSY_SPAN:
                break
            if busy.ends_at > start:
                ref = busy.session_id if busy.kind == BusyKind.SESSION else busy.booking_id
                own = busy.org_id == row.org_id and ref is not None
                refused[index] = (
                    f"overlaps the host's {busy.kind} {ref if own else ''} from "
                    f"{busy.starts_at.isoformat()} to {busy.ends_at.isoformat()}"
                ).replace("  ", " ")
                break
    # The host's limits apply to every occurrence, each counted once it is accepted.
    limits = host_limits(row.org_id, row.host_id)
    if limits is not None:
        counts = DayCounts(limits, [Busy(b.starts_at, b.ends_at) for b in taken])
        for index, start in enumerate(instants):
            if index in refused:
                continue
            if counts.full(start):
                refused[index] = (
                    "the host's limit of bookings and sessions a day or week is reached"
                )
            else:
                counts.add(start)
    return refused


# -- this and following ------------------------------------------------------------------


def _locked_series(db: Database, scope: OrgScope, series_id: UUID) -> SessionSeries:
    query = SessionSeries.select().where(
        (SessionSeries.id == series_id) & (SessionSeries.org == scope.org_id)
    )
    row = (query.for_update() if is_postgres(db) else query).first()
    if row is None:
        raise NotFound("series", series_id)
    if row.cancelled_at is not None:
        raise Conflict(
            f"series {series_id} was cancelled or replaced; change the series that continues it",
            code="series_cancelled",
        )
    locked: SessionSeries = row
    return locked


def _following(row: SessionSeries, effective: datetime, now: datetime) -> list[Session]:
    """Occurrences of ``row`` from ``effective`` on that are still to come (draft or
    scheduled, not yet started), edited ones included."""
    return list(
        Session.select()
        .where(
            (Session.recurrence_id == row.id)
            & Session.deleted_at.is_null()
            & (Session.occurrence_at >= effective)
            & Session.status.in_(list(_OPEN))
            & (Session.scheduled_at >= now)
        )
        .order_by(Session.occurrence_at)
    )


def _continuing(row: SessionSeries, first: datetime, rrule: str, now: datetime) -> SessionSeries:
    """A new series carrying ``row``'s template on from the occurrence at ``first``."""
    values = {
        name: getattr(row, name)
        for name in (*_COPIED, "team", "host", "form_template", "timezone", "duration_minutes")
    }
    created: SessionSeries = SessionSeries.create(
        org=row.org_id,
        start_local=local_wall(first, row.timezone).isoformat(),
        rrule=rrule,
        devices=list(row.devices or []),
        materialised_until=row.materialised_until,
        continues=row.id,
        created_by=row.created_by_id,
        created_at=now,
        updated_at=now,
        **values,
    )
    return created


def _remaining_rrule(rule: Series, effective: datetime) -> str:
    """The rule text for what is left of ``rule`` from ``effective`` (COUNT reduced)."""
    parts = rule.rrule.split(";")
    for index, part in enumerate(parts):
        if part.startswith("COUNT="):
            left = int(part.removeprefix("COUNT=")) - rule.count_before(effective)
            parts[index] = f"COUNT={max(left, 1)}"
    return ";".join(parts)


def update_series(
    db: Database,
    *,
    scope: OrgScope,
    series: SessionSeries,
    data: SeriesUpdate,
    now: datetime | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> SeriesOutcome:
    """Change the series from ``effective_from`` on (this and following).

    Occurrences before it stay as they are: the series is split there (the old one
    ends with its last occurrence before, a new one continues with the change). A
    change of time, zone, duration or rule writes the following occurrences anew
    (those nobody registered for are removed, the others cancelled); other changes
    are applied to the following occurrences in place. Occurrences edited on their
    own keep their edits.
    """
    now = now or utc_now()
    values = data.model_dump(exclude_unset=True)
    effective = max(values.pop("effective_from", None) or now, now)
    if not values:
        return SeriesOutcome(series=series)
    timing = bool(_TIMING & set(values))
    with write_transaction(db):
        current = _locked_series(db, scope, series.id)
        references = resolve_references(scope, values)
        new_host = references["host"].id if references.get("host") is not None else None
        lock_hosts(db, [current.host_id, new_host])
        rule = series_rule(current)
        first_following = next(rule.occurrences(after=effective), None)
        if first_following is None:
            raise Conflict(
                "the series has no occurrence after effective_from to change",
                code="series_over",
            )
        ended = rule.ending_before(effective)
        if timing:
            return _retime(
                db,
                scope,
                current,
                rule,
                ended,
                first_following,
                values,
                references,
                now,
                horizon_days,
            )
        target = current
        if ended is not None:
            SessionSeries.update(rrule=ended.rrule, materialised_until=None, updated_at=now).where(
                SessionSeries.id == current.id
            ).execute()
            target = _continuing(current, first_following, _remaining_rrule(rule, effective), now)
        template = _template_changes(scope, values, references)
        if template:
            SessionSeries.update(**template, updated_at=now).where(
                SessionSeries.id == target.id
            ).execute()
        following = _following(current, effective, now)
        if target.id != current.id:
            Session.update(recurrence_id=target.id).where(
                (Session.recurrence_id == current.id) & (Session.occurrence_at >= effective)
            ).execute()
        changed = _apply_to_occurrences(
            db, target, [s for s in following if not s.occurrence_edited], template, now
        )
    return SeriesOutcome(
        series=SessionSeries.get_by_id(current.id),
        continued_by=SessionSeries.get_by_id(target.id) if target.id != current.id else None,
        changed=changed,
    )


def _template_changes(
    scope: OrgScope, values: dict[str, Any], references: dict[str, Any]
) -> dict[str, Any]:
    """The series columns a change sets (timing aside)."""
    changes: dict[str, Any] = {name: values[name] for name in _COPIED if name in values}
    for name in ("team", "host", "form_template"):
        if name in references:
            changes[name] = references[name]
    if "devices" in values:
        refs = [SessionDeviceRef(**ref) for ref in values["devices"] or []]
        changes["devices"] = _checked_devices(scope, refs, "body.devices")
    return changes


def _apply_to_occurrences(
    db: Database,
    target: SessionSeries,
    sessions: Sequence[Session],
    template: dict[str, Any],
    now: datetime,
) -> int:
    """Apply template changes to these occurrences; all or nothing."""
    if not template or not sessions:
        return 0
    row = SessionSeries.get_by_id(target.id)
    session_changes = {name: template[name] for name in _COPIED if name in template}
    for name in ("team", "host", "form_template"):
        if name in template:
            session_changes[name] = template[name]
    if "form_template" in template:
        form = template["form_template"]
        session_changes["form_version"] = current_form_version(form) if form is not None else None
    problems: list[tuple[str, str, str]] = []
    capacity = session_changes.get("max_participants")
    if capacity is not None:
        for session in sessions:
            if session.participant_count > capacity:
                problems.append(
                    (
                        f"occurrences[{session.id}]",
                        "capacity_below_registrations",
                        f"{session.participant_count} people are registered for the occurrence "
                        f"at {session.scheduled_at.isoformat()}",
                    )
                )
    if problems:
        raise Conflict(
            f"max_participants is below the registrations of {len(problems)} occurrences; "
            "nothing was changed",
            code="capacity_below_registrations",
            fields=[FieldProblem(*problem) for problem in problems],
        )
    ids = [session.id for session in sessions]
    if session_changes:
        Session.update(**session_changes, updated_at=now).where(Session.id.in_(ids)).execute()
    if "devices" in template:
        SessionDevice.delete().where(SessionDevice.session.in_(ids)).execute()
        rows = [
            {"id": new_id(), "session": session_id, "device": ref["device_id"],
             "camera_id": ref["camera_id"], "created_at": now}
            for session_id in ids
            for ref in row.devices or []
        ]  # fmt: skip
        insert_rows(db, SessionDevice, rows)
    if "host" in template:
        _reclaim(db, row, ids)
    return len(ids)


def _reclaim(db: Database, row: SessionSeries, session_ids: Sequence[UUID]) -> None:
    """The occurrences' busy rows again, for their (new) host; all or nothing."""
    HostBusy.delete().where(HostBusy.session.in_(list(session_ids))).execute()
    if row.host_id is None:
        return
    sessions = list(
        Session.select().where(Session.id.in_(list(session_ids))).order_by(Session.scheduled_at)
    )
    instants = [session.scheduled_at for session in sessions]
    duration = timedelta(minutes=row.duration_minutes)
    refused = _refused_occurrences(row, instants, duration)
    if refused:
        raise TimeTaken(
            f"the new host is not free for {len(refused)} occurrences; nothing was changed",
            fields=[
                FieldProblem(f"occurrences[{index}]", "time_taken", why)
                for index, why in sorted(refused.items())
            ][:100],
        )
    now = utc_now()
    HostBusy.insert_many(
        [
            {
                "id": new_id(),
                "org": row.org_id,
                "host": row.host_id,
                "starts_at": session.scheduled_at,
                "ends_at": session.scheduled_at
                + timedelta(minutes=session.duration_minutes or row.duration_minutes),
                "kind": BusyKind.SESSION,
                "session": session.id,
                "created_at": now,
            }
            for session in sessions
        ]
    ).execute()


def _retime(
    db: Database,
    scope: OrgScope,
    current: SessionSeries,
    rule: Series,
    ended: Series | None,
    first_following: datetime,
    values: dict[str, Any],
    references: dict[str, Any],
    now: datetime,
    horizon_days: int,
) -> SeriesOutcome:
    """A new time, zone, duration or rule from ``first_following`` on: the following
    occurrences are written anew in a series that continues this one."""
    zone_name = values.get("timezone") or current.timezone
    first_wall = local_wall(first_following, current.timezone)
    start_time: time = values.get("start_time") or first_wall.time()
    start_wall = datetime.combine(first_wall.date(), start_time)
    try:
        if values.get("rule") is not None:
            new_rule = Series.create(RuleIn(**values["rule"]).to_rule(), start_wall, zone_name)
        else:
            remaining = _remaining_rrule(rule, first_following)
            new_rule = Series.reanchored(remaining, start_wall, zone_name)
    except RuleError as exc:
        raise invalid(f"body.rule.{exc.field}", "bad_rule", exc.message) from None
    # Free the host's time of what is replaced before checking the new occurrences.
    removed = 0
    for session in _following(current, first_following, now):
        if session.occurrence_edited:
            continue  # edited on its own: it keeps its time
        release_session(session.id)
        if session.participant_count == 0:
            Session.update(deleted_at=now, updated_at=now).where(Session.id == session.id).execute()
        else:
            Session.update(
                status=SessionStatus.CANCELLED,
                cancelled_at=now,
                cancel_reason="the series moved to a new time from this occurrence on",
                updated_at=now,
            ).where(Session.id == session.id).execute()
            SessionTransition.create(
                session=session.id,
                from_status=session.status,
                to_status=SessionStatus.CANCELLED,
                occurred_at=now,
                by_user=scope.user_id,
                reason="series changed",
            )
            _announce_cancelled([session.id], now)
        removed += 1
    if ended is not None:
        SessionSeries.update(rrule=ended.rrule, materialised_until=None, updated_at=now).where(
            SessionSeries.id == current.id
        ).execute()
    else:  # nothing of it is left: the new series replaces it
        SessionSeries.update(cancelled_at=now, updated_at=now).where(
            SessionSeries.id == current.id
        ).execute()
    target = _continuing(current, first_following, new_rule.rrule, now)
    template = _template_changes(scope, values, references)
    SessionSeries.update(
        start_local=new_rule.start_wall.isoformat(),
        timezone=zone_name,
        rrule=new_rule.rrule,
        duration_minutes=values.get("duration_minutes") or current.duration_minutes,
        materialised_until=None,
        **template,
    ).where(SessionSeries.id == target.id).execute()
    target = SessionSeries.get_by_id(target.id)
    horizon = None if new_rule.is_finite else now + timedelta(days=horizon_days)
    created = _materialise(db, target, new_rule, before=horizon, now=now, strict=True)
    if horizon is not None:
        SessionSeries.update(materialised_until=horizon).where(
            SessionSeries.id == target.id
        ).execute()
    return SeriesOutcome(
        series=SessionSeries.get_by_id(current.id),
        continued_by=SessionSeries.get_by_id(target.id),
        created=created,
        removed=removed,
    )


def cancel_series(
    db: Database,
    *,
    scope: OrgScope,
    series: SessionSeries,
    data: SeriesCancel,
    now: datetime | None = None,
) -> SeriesOutcome:
    """Cancel every occurrence from ``effective_from`` on (edited ones too); the
    series ends with its last occurrence before, or is cancelled if none is left."""
    now = now or utc_now()
    effective = max(data.effective_from or now, now)
    reason = data.reason or "the series was cancelled from this occurrence on"
    with write_transaction(db):
        current = _locked_series(db, scope, series.id)
        lock_hosts(db, [current.host_id])
        rule = series_rule(current)
        ended = rule.ending_before(effective)
        if ended is not None:
            SessionSeries.update(rrule=ended.rrule, materialised_until=None, updated_at=now).where(
                SessionSeries.id == current.id
            ).execute()
        else:
            SessionSeries.update(cancelled_at=now, updated_at=now).where(
                SessionSeries.id == current.id
            ).execute()
        following = _following(current, effective, now)
        for session in following:
            release_session(session.id)
            SessionTransition.create(
                session=session.id,
                from_status=session.status,
                to_status=SessionStatus.CANCELLED,
                occurred_at=now,
                by_user=scope.user_id,
                reason=reason,
            )
        if following:
            Session.update(
                status=SessionStatus.CANCELLED,
                cancelled_at=now,
                cancel_reason=reason,
                updated_at=now,
            ).where(Session.id.in_([session.id for session in following])).execute()
            _announce_cancelled([session.id for session in following], now)
    wake()
    return SeriesOutcome(series=SessionSeries.get_by_id(current.id), removed=len(following))


def _announce_cancelled(session_ids: Sequence[UUID], now: datetime) -> None:
    """``session.cancelled`` for each (in the transaction that cancelled them)."""
    for session in Session.select().where(Session.id.in_(list(session_ids))):
        emit(session.org_id, EventType.SESSION_CANCELLED, session_data(session))


# -- extending to the horizon --------------------------------------------------------------


def due_for_extension(*, now: datetime, horizon_days: int = DEFAULT_HORIZON_DAYS) -> list[UUID]:
    """Open-ended series whose sessions end more than a day short of the horizon."""
    short_of = now + timedelta(days=horizon_days) - timedelta(days=1)
    return [
        row.id
        for row in SessionSeries.select(SessionSeries.id).where(
            SessionSeries.cancelled_at.is_null()
            & SessionSeries.materialised_until.is_null(False)
            & (SessionSeries.materialised_until < short_of)
        )
    ]


def extend_series(
    db: Database,
    *,
    series_id: UUID,
    now: datetime | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> int:
    """Write an open-ended series' occurrences up to the horizon; returns how many.

    An occurrence whose time the host gave away meanwhile is written as cancelled,
    with the reason. Safe to run in several processes at once (the series row is
    locked; occurrences are unique per series and instant)."""
    now = now or utc_now()
    horizon = now + timedelta(days=horizon_days)
    with write_transaction(db):
        query = SessionSeries.select().where(SessionSeries.id == series_id)
        row = (query.for_update() if is_postgres(db) else query).first()
        if row is None or row.cancelled_at is not None or row.materialised_until is None:
            return 0
        if row.materialised_until >= horizon:
            return 0
        lock_hosts(db, [row.host_id])
        created = _materialise(
            db, row, series_rule(row), after_=row.materialised_until, before=horizon, now=now,
            strict=False,
        )  # fmt: skip
        SessionSeries.update(materialised_until=horizon).where(
            SessionSeries.id == series_id
        ).execute()
    return created
