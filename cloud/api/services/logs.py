"""Logs: the coach's entries (validated against the session's form version) and
the devices' (markers, detection summaries, system notes; read-only here)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from peewee import JOIN, Database

from cloud.api.access.scope import OrgScope
from cloud.api.config import TaggingConfig
from cloud.api.forms.values import validate_data
from cloud.api.query.cursor import Order, keyset, paginate
from cloud.api.query.rows import fk_id
from cloud.api.schemas.records import LogCreate, LogPublic, LogUpdate
from cloud.api.services.forms import parse_fields
from cloud.api.services.references import roster_of
from cloud.api.services.tagging import log_timing, request_clips_for_log
from cloud.db import write_transaction
from cloud.devices.control import DeviceControl
from cloud.errors import Conflict, InvalidInput, NotFound
from cloud.models import FormVersion, Log, LogOrigin, Session, SessionStatus, utc_now
from protocol.ids import new_id

__all__ = [
    "API_SOURCE",
    "LogRow",
    "create_log",
    "delete_log",
    "get_log",
    "list_logs",
    "log_public",
    "logs_query",
    "update_log",
]

API_SOURCE = "coach"
LOGGABLE = (SessionStatus.LIVE, SessionStatus.ENDED)


LogRow = dict[str, Any]
"""A log as :func:`logs_query` reads it: the public fields plus ``form_version_ref``."""


def logs_query() -> Any:
    """Logs as dicts of :class:`LogPublic`'s fields (with the form's id and version
    number), read without building model objects: the timeline reads 100 per page."""
    return (
        Log.select(
            Log.id,
            Log.session.alias("session_id"),
            Log.origin,
            Log.source,
            Log.type,
            Log.occurred_at,
            Log.received_at,
            Log.device.alias("device_id"),
            Log.camera_id,
            Log.author.alias("author_id"),
            FormVersion.template.alias("form_id"),
            FormVersion.version.alias("form_version"),
            Log.form_version.alias("form_version_ref"),
            Log.data,
            Log.updated_at,
            Log.clip_lead_s,
            Log.clip_lag_s,
        )
        .join(FormVersion, JOIN.LEFT_OUTER, on=(Log.form_version == FormVersion.id))
        .dicts()
    )


def log_public(row: LogRow) -> LogPublic:
    return LogPublic.model_validate(row)


def _in_session(scope: OrgScope, session: Session) -> Any:
    return (Log.org == scope.org_id) & (Log.session == session.id) & Log.deleted_at.is_null()


def list_logs(
    *,
    scope: OrgScope,
    session: Session,
    source: str | None,
    type: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[LogRow], str | None]:
    condition = _in_session(scope, session)
    if source is not None:
        condition &= Log.source == source
    if type is not None:
        condition &= Log.type == type
    return paginate(
        keyset(logs_query().where(condition), Log.occurred_at, Log.id, Order.ASC),
        listing="logs:asc",
        cursor=cursor,
        limit=limit,
        key=lambda row: (row["occurred_at"], row["id"]),
    )


def get_log(*, scope: OrgScope, session: Session, log_id: UUID) -> LogRow:
    row: LogRow | None = (
        logs_query().where(_in_session(scope, session) & (Log.id == log_id)).first()
    )
    if row is None:
        raise NotFound("log", log_id)
    return row


def _validated(
    session_team: UUID | None, version: FormVersion | None, data: dict[str, Any]
) -> dict[str, Any]:
    if version is None:
        return data  # a session without a form takes free-form entries
    clean, problems = validate_data(
        parse_fields(version.fields), data, roster=roster_of(session_team), path="body.data"
    )
    if problems:
        raise InvalidInput(
            f"the entry does not fit form version {version.version}: "
            + "; ".join(f"{p.path}: {p.message}" for p in problems[:5]),
            code="log_invalid",
            fields=problems,
        )
    return clean


def create_log(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    data: LogCreate,
    control: DeviceControl,
    limits: TaggingConfig,
    ttl_s: float,
) -> LogRow:
    """Write the entry; when it tags (the form's clip settings, or lead/lag given), ask
    every device of the session for its window once it is committed."""
    if session.status not in LOGGABLE:
        raise Conflict(
            f"logs are written while a session is live (or after it ended), not while {session.status}",
            code="session_not_started",
        )
    version = (
        FormVersion.get_by_id(fk_id(session, "form_version"))
        if fk_id(session, "form_version")
        else None
    )
    clean = _validated(fk_id(session, "team"), version, data.data)
    timing = log_timing(session, version, data, clean, limits)
    now = utc_now()
    log_id = new_id()
    with write_transaction(db):
        Log.create(
            id=log_id,
            org=scope.org_id,
            session=session.id,
            origin=LogOrigin.API,
            source=API_SOURCE,
            type=data.type,
            occurred_at=data.occurred_at or now,
            received_at=now,
            author=scope.user_id,
            form_version=version,
            data=clean,
            clip_lead_s=timing.lead_s if timing else None,
            clip_lag_s=timing.lag_s if timing else None,
        )
    if timing is not None:  # after the commit: the log exists whatever the broker does
        request_clips_for_log(control, log_id, ttl_s=ttl_s, requested_by=scope.user_id)
    return get_log(scope=scope, session=session, log_id=log_id)


def update_log(
    db: Database, *, scope: OrgScope, session: Session, log: LogRow, data: LogUpdate
) -> LogRow:
    if log["origin"] != LogOrigin.API:
        raise Conflict(
            "a device's log cannot be edited; delete it instead", code="device_log_read_only"
        )
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude={"data"})
    if data.data is not None:
        reference = log["form_version_ref"]
        version = FormVersion.get_by_id(reference) if reference else None
        changes["data"] = _validated(fk_id(session, "team"), version, data.data)
    if changes:
        changes["updated_at"] = utc_now()
        with write_transaction(db):
            Log.update(changes).where(Log.id == log["id"]).execute()
    return get_log(scope=scope, session=session, log_id=log["id"])


def delete_log(db: Database, *, scope: OrgScope, log: LogRow) -> None:
    with write_transaction(db):
        Log.update(deleted_at=utc_now()).where(
            (Log.id == log["id"]) & (Log.org == scope.org_id)
        ).execute()
