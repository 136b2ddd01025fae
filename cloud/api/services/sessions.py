"""Sessions: finding, listing (keyset), creating, editing and deleting them.

Lifecycle transitions are in :mod:`cloud.api.services.lifecycle`, registrations
in :mod:`cloud.api.services.participants`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from peewee import JOIN, Database, IntegerField

from cloud.api.access.scope import OrgScope
from cloud.api.query.cursor import (
    Cursor,
    Order,
    after_key,
    decode_cursor,
    order_by,
    paginate,
)
from cloud.api.query.prepared import Markers, PreparedSelect, as_model
from cloud.api.schemas.sessions import (
    SessionCreate,
    SessionDevicePublic,
    SessionDeviceRef,
    SessionPublic,
    SessionUpdate,
)
from cloud.api.services.references import (
    device_in_org,
    form_in_org,
    host_in_org,
    team_in_org,
)
from cloud.db import database_proxy, write_transaction
from cloud.errors import Conflict, NotFound
from cloud.models import (
    FormTemplate,
    FormVersion,
    Role,
    Session,
    SessionDevice,
    SessionStatus,
    SessionTransition,
    SessionType,
    utc_now,
)
from cloud.scheduling.busy import lock_host, sync_session

__all__ = [
    "EDITABLE_STATUSES",
    "SessionFilters",
    "create_session",
    "current_form_version",
    "delete_session",
    "get_session",
    "list_sessions",
    "resolve_references",
    "session_public",
    "sessions_page_statement",
    "sessions_public",
    "update_session",
]

EDITABLE_STATUSES = frozenset({SessionStatus.DRAFT, SessionStatus.SCHEDULED})
_ALWAYS_EDITABLE = frozenset({"title", "description"})
_TIMING = frozenset({"scheduled_at", "duration_minutes", "host"})  # what moves the host's busy time


def _columns() -> Any:
    """Every session column (by field name) and its form version's number."""
    return Session.select(
        *Session._meta.sorted_fields, FormVersion.version.alias("form_version_number")
    ).join(FormVersion, JOIN.LEFT_OUTER, on=(Session.form_version == FormVersion.id))


def _visible_marked(p: Markers, *, guest: bool) -> Any:
    condition = (Session.org == p.one("org", Session.org)) & Session.deleted_at.is_null()
    if guest:
        condition &= Session.status != SessionStatus.DRAFT
    return condition


def _one(*, guest: bool) -> PreparedSelect:
    def build(p: Markers) -> Any:
        return _columns().where(
            _visible_marked(p, guest=guest) & (Session.id == p.one("id", Session.id))
        )

    return PreparedSelect(build)


_ONE = {guest: _one(guest=guest) for guest in (False, True)}


def get_session(*, scope: OrgScope, session_id: UUID) -> Session:
    row = _ONE[not scope.at_least(Role.MEMBER)].first(
        database_proxy, org=scope.org_id, id=session_id
    )
    if row is None:
        raise NotFound("session", session_id)
    return as_model(Session, row)


_BY_ID = PreparedSelect(lambda p: _columns().where(Session.id == p.one("id", Session.id)))


def reload_session(session: Session) -> Session:
    row = _BY_ID.first(database_proxy, id=session.id)
    assert row is not None
    return as_model(Session, row)


@dataclass(frozen=True)
class SessionFilters:
    status: Sequence[SessionStatus] = ()
    type: Sequence[SessionType] = ()
    team_id: UUID | None = None
    host_id: UUID | None = None
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None


_PAGES: dict[tuple[Any, ...], PreparedSelect] = {}
_LIMIT = IntegerField()


def _page_select(shape: tuple[Any, ...]) -> PreparedSelect:
    """The prepared page query for one combination of sort, order and filters used."""
    sort, order, guest, has_cursor, status, kinds, team, host, since, until = shape
    time_field = Session.scheduled_at if sort == "scheduled_at" else Session.created_at

    def build(p: Markers) -> Any:
        condition = _visible_marked(p, guest=guest)
        if sort == "scheduled_at":
            condition &= Session.scheduled_at.is_null(False)
        if status:
            condition &= Session.status.in_(p.many("status", Session.status))
        if kinds:
            condition &= Session.type.in_(p.many("type", Session.type))
        if team:
            condition &= Session.team == p.one("team", Session.team)
        if host:
            condition &= Session.host == p.one("host", Session.host)
        if since:
            condition &= Session.scheduled_at >= p.one("since", Session.scheduled_at)
        if until:
            condition &= Session.scheduled_at < p.one("until", Session.scheduled_at)
        if has_cursor:
            at, ident = p.one("at", time_field), p.one("after_id", Session.id)
            condition &= after_key(time_field, Session.id, at, ident, order)
        return (
            _columns()
            .where(condition)
            .order_by(*order_by(time_field, Session.id, order))
            .limit(p.one("limit", _LIMIT))
        )

    prepared = _PAGES.get(shape)
    if prepared is None:
        prepared = _PAGES[shape] = PreparedSelect(build)
    return prepared


def _page(
    *,
    scope: OrgScope,
    filters: SessionFilters,
    sort: str,
    order: Order,
    position: Cursor | None,
    count: int,
) -> tuple[PreparedSelect, dict[str, Any]]:
    """The prepared page query for this request's shape, and the values it takes."""
    shape = (
        sort,
        order,
        not scope.at_least(Role.MEMBER),
        position is not None,
        bool(filters.status),
        bool(filters.type),
        filters.team_id is not None,
        filters.host_id is not None,
        filters.scheduled_from is not None,
        filters.scheduled_to is not None,
    )
    values = {
        "org": scope.org_id,
        "status": list(filters.status),
        "type": list(filters.type),
        "team": filters.team_id,
        "host": filters.host_id,
        "since": filters.scheduled_from,
        "until": filters.scheduled_to,
        "at": position.at if position else None,
        "after_id": position.id if position else None,
        "limit": count,
    }
    return _page_select(shape), values


def _listing(sort: str, order: Order) -> str:
    return f"sessions:{sort}:{order.value}"


def list_sessions(
    *,
    scope: OrgScope,
    filters: SessionFilters,
    sort: str,
    order: Order,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page (rows as dicts), sorted by ``created_at`` or ``scheduled_at`` then id,
    and the next cursor."""

    def fetch(position: Cursor | None, count: int) -> list[dict[str, Any]]:
        select, values = _page(
            scope=scope, filters=filters, sort=sort, order=order, position=position, count=count
        )
        return select.rows(database_proxy, **values)

    return paginate(
        fetch,
        listing=_listing(sort, order),
        cursor=cursor,
        limit=limit,
        key=lambda row: (row[sort], row["id"]),
    )


def sessions_page_statement(
    *,
    scope: OrgScope,
    filters: SessionFilters,
    sort: str,
    order: Order,
    cursor: str | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The SQL and parameters :func:`list_sessions` runs for this page (for the benchmark's
    EXPLAIN and its SQL-alone timing)."""
    listing = _listing(sort, order)
    position = decode_cursor(cursor, listing=listing) if cursor is not None else None
    select, values = _page(
        scope=scope, filters=filters, sort=sort, order=order, position=position, count=limit + 1
    )
    return select.statement(database_proxy, **values)


_DEVICES = PreparedSelect(
    lambda p: (
        SessionDevice.select(SessionDevice.session, SessionDevice.device, SessionDevice.camera_id)
        .where(SessionDevice.session.in_(p.many("ids", SessionDevice.session)))
        .order_by(SessionDevice.created_at, SessionDevice.id)
    )
)


def _devices_by_session(session_ids: Sequence[Any]) -> dict[str, list[SessionDevicePublic]]:
    """Devices of each session, keyed by the session id as text."""
    found: dict[str, list[SessionDevicePublic]] = defaultdict(list)
    if not session_ids:
        return found
    for row in _DEVICES.rows(database_proxy, ids=list(session_ids)):
        found[str(row["session"])].append(
            SessionDevicePublic(device_id=row["device"], camera_id=row["camera_id"])
        )
    return found


def _public(row: dict[str, Any], devices: list[SessionDevicePublic]) -> SessionPublic:
    """From a row of :func:`_columns` (field names, plus ``form_version_number``)."""
    return SessionPublic.model_validate(
        {
            **row,
            "team_id": row["team"],
            "host_id": row["host"],
            "form_template_id": row["form_template"],
            "form_version": row.get("form_version_number"),
            "devices": devices,
        }
    )


def _row(session: Session) -> dict[str, Any]:
    return {
        **session.__data__,
        "form_version_number": getattr(session, "form_version_number", None),
    }


def session_public(session: Session) -> SessionPublic:
    return _public(_row(session), _devices_by_session([session.id]).get(str(session.id), []))


def sessions_public(rows: Sequence[dict[str, Any]]) -> list[SessionPublic]:
    devices = _devices_by_session([row["id"] for row in rows])
    return [_public(row, devices.get(str(row["id"]), [])) for row in rows]


def resolve_references(scope: OrgScope, values: dict[str, Any]) -> dict[str, Any]:
    """Turn the ids a request names into this org's rows (404 for anything else)."""
    resolved: dict[str, Any] = {}
    if values.get("team_id") is not None:
        resolved["team"] = team_in_org(scope=scope, team_id=values["team_id"])
    elif "team_id" in values:
        resolved["team"] = None
    if values.get("host_id") is not None:
        resolved["host"] = host_in_org(scope=scope, user_id=values["host_id"])
    elif "host_id" in values:
        resolved["host"] = None
    if values.get("form_template_id") is not None:
        form = form_in_org(scope=scope, form_id=values["form_template_id"])
        if form.archived_at is not None:
            raise Conflict(
                f"form {form.id} is archived; restore it or pick another", code="form_archived"
            )
        resolved["form_template"] = form
        resolved["form_version"] = current_form_version(form)
    elif "form_template_id" in values:
        resolved["form_template"] = None
        resolved["form_version"] = None
    if values.get("tagging") is not None:
        resolved["tagging"] = values["tagging"]
    elif "form_version" in resolved:  # a form with clip settings makes it a tagging session
        version = resolved["form_version"]
        resolved["tagging"] = bool(version is not None and version.clip)
    return resolved


def current_form_version(form: FormTemplate) -> FormVersion:
    return FormVersion.get(
        (FormVersion.template == form.id) & (FormVersion.version == form.current_version)
    )


def _set_devices(scope: OrgScope, session: Session, refs: Sequence[SessionDeviceRef]) -> None:
    wanted: list[tuple[str, str | None]] = []
    for index, ref in enumerate(refs):
        device_in_org(scope=scope, device_id=ref.device_id, path=f"body.devices[{index}].device_id")
        if (ref.device_id, ref.camera_id) not in wanted:
            wanted.append((ref.device_id, ref.camera_id))
    SessionDevice.delete().where(SessionDevice.session == session.id).execute()
    for device_id, camera_id in wanted:
        SessionDevice.create(session=session.id, device=device_id, camera_id=camera_id)


_PLAIN_FIELDS = (
    "title",
    "description",
    "type",
    "scheduled_at",
    "duration_minutes",
    "timezone",
    "meeting_url",
    "meeting_provider",
    "max_participants",
    "is_free",
    "price_minor",
    "currency",
    "auto_start",
    "late_grace_minutes",
)


def create_session(db: Database, *, scope: OrgScope, data: SessionCreate) -> Session:
    values = data.model_dump(exclude={"devices", "status"})
    status = data.status or (
        SessionStatus.SCHEDULED if data.scheduled_at is not None else SessionStatus.DRAFT
    )
    if status not in EDITABLE_STATUSES:
        raise Conflict("a session is created as draft or scheduled", code="invalid_status")
    if status is SessionStatus.SCHEDULED and data.scheduled_at is None:
        raise Conflict("a scheduled session needs scheduled_at", code="not_schedulable")
    with write_transaction(db):
        references = resolve_references(scope, values)
        lock_host(db, getattr(references.get("host"), "id", None))
        session = Session.create(
            org=scope.org_id,
            status=status,
            created_by=scope.user_id,
            **{name: values[name] for name in _PLAIN_FIELDS},
            **references,
        )
        _set_devices(scope, session, data.devices)
        SessionTransition.create(session=session.id, to_status=status, by_user=scope.user_id)
        sync_session(db, session.id)
    return reload_session(session)


def update_session(
    db: Database, *, scope: OrgScope, session: Session, data: SessionUpdate
) -> Session:
    values = data.model_dump(exclude_unset=True)
    restricted = sorted(set(values) - _ALWAYS_EDITABLE)
    if restricted and SessionStatus(session.status) not in EDITABLE_STATUSES:
        raise Conflict(
            f"a {session.status} session's {', '.join(restricted)} can no longer change; "
            "only title and description can",
            code="session_not_editable",
        )
    with write_transaction(db):
        current = Session.select().where(Session.id == session.id).first()
        if str(current.status) != str(session.status):
            raise Conflict("the session changed meanwhile; reload it", code="stale")
        changes: dict[str, Any] = {name: values[name] for name in _PLAIN_FIELDS if name in values}
        changes.update(resolve_references(scope, values))
        merged_free = changes.get("is_free", current.is_free)
        merged_price = changes.get("price_minor", current.price_minor)
        merged_currency = changes.get("currency", current.currency)
        if not merged_free and (merged_price is None or merged_currency is None):
            raise Conflict("a paid session needs price_minor and currency", code="price_missing")
        auto = changes.get("auto_start", current.auto_start)
        scheduled = changes.get("scheduled_at", current.scheduled_at)
        minutes = changes.get("duration_minutes", current.duration_minutes)
        if auto and (scheduled is None or minutes is None):
            raise Conflict(
                "auto_start needs scheduled_at and duration_minutes", code="not_schedulable"
            )
        capacity = changes.get("max_participants", current.max_participants)
        if capacity is not None and capacity < current.participant_count:
            raise Conflict(
                f"{current.participant_count} people are registered; capacity cannot go below that",
                code="capacity_below_registrations",
            )
        if session.status == SessionStatus.SCHEDULED and "scheduled_at" in changes:
            if changes["scheduled_at"] is None:
                raise Conflict("a scheduled session needs scheduled_at", code="not_schedulable")
        if current.recurrence_id is not None and set(changes) - _ALWAYS_EDITABLE:
            changes["occurrence_edited"] = True  # series edits leave it as it is now
        if changes:
            changes["updated_at"] = utc_now()
            Session.update(changes).where(Session.id == session.id).execute()
        if data.devices is not None:
            _set_devices(scope, session, data.devices)
        if _TIMING & set(changes):
            sync_session(db, session.id)
    return reload_session(session)


def delete_session(db: Database, *, scope: OrgScope, session: Session) -> None:
    """Soft delete. A live session must be ended (or cancelled) first."""
    with write_transaction(db):
        lock_host(db, session.host_id)
        deleted = (
            Session.update(deleted_at=utc_now(), updated_at=utc_now())
            .where(
                (Session.id == session.id)
                & (Session.org == scope.org_id)
                & (Session.status != SessionStatus.LIVE)
                & Session.deleted_at.is_null()
            )
            .execute()
        )
        if deleted:
            sync_session(db, session.id)
    if not deleted:
        raise Conflict(
            "a live session cannot be deleted; end or cancel it first", code="session_live"
        )
