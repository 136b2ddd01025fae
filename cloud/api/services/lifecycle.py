"""The session lifecycle: draft -> scheduled -> live -> ended, and cancelled.

Each transition is one conditional UPDATE (``WHERE status IN (allowed)``), so two
coaches pressing "start" at once cannot both succeed, plus a
``session_transition`` row (a timeline item). Starting pins the form version
logs are checked against and tells the session's devices (retained desired
state); ending or cancelling a live session clears it. See docs/api.md for the
mapping onto both specs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.query.rows import fk_id
from cloud.api.services.sessions import reload_session
from cloud.db import is_postgres, write_transaction
from cloud.devices.control import UNCHANGED, DeviceControl
from cloud.errors import Conflict, NotFound
from cloud.models import (
    DesiredStateRecord,
    Device,
    FormTemplate,
    FormVersion,
    Session,
    SessionDevice,
    SessionStatus,
    SessionTransition,
    utc_now,
)
from cloud.outbox import wake
from cloud.scheduling.busy import release_session
from cloud.webhooks import EventType, emit
from cloud.webhooks.payloads import session_data

__all__ = ["Action", "TransitionOutcome", "apply_transition", "transition"]

S = SessionStatus


class Action(StrEnum):
    SCHEDULE = "schedule"
    START = "start"
    END = "end"
    CANCEL = "cancel"


ALLOWED: dict[Action, tuple[frozenset[SessionStatus], SessionStatus]] = {
    Action.SCHEDULE: (frozenset({S.DRAFT}), S.SCHEDULED),
    Action.START: (frozenset({S.DRAFT, S.SCHEDULED}), S.LIVE),
    Action.END: (frozenset({S.LIVE}), S.ENDED),
    Action.CANCEL: (frozenset({S.DRAFT, S.SCHEDULED, S.LIVE}), S.CANCELLED),
}
"""For each action: the statuses it may start from, and where it leads."""

_EVENTS = {
    Action.START: EventType.SESSION_STARTED,
    Action.END: EventType.SESSION_ENDED,
    Action.CANCEL: EventType.SESSION_CANCELLED,
}


@dataclass(frozen=True)
class TransitionOutcome:
    session: Session
    devices: list[DesiredStateRecord]  # the desired state each device was given


def transition(
    db: Database,
    *,
    scope: OrgScope,
    session: Session,
    action: Action,
    control: DeviceControl,
    reason: str | None = None,
) -> TransitionOutcome:
    """A person's transition (scope's user, within scope's organisation)."""
    return apply_transition(
        db,
        org_id=scope.org_id,
        by_user=scope.user_id,
        session=session,
        action=action,
        control=control,
        reason=reason,
    )


def apply_transition(
    db: Database,
    *,
    org_id: UUID,
    by_user: UUID | None,
    session: Session,
    action: Action,
    control: DeviceControl,
    reason: str | None = None,
) -> TransitionOutcome:
    """The transition itself; ``by_user`` None is the schedule (auto-start sessions)."""
    sources, target = ALLOWED[action]
    now = utc_now()
    changes: dict[str, object] = {"status": target, "updated_at": now}
    if action is Action.START:
        changes["started_at"] = now
    elif action is Action.END:
        changes["ended_at"] = now
    elif action is Action.CANCEL:
        changes["cancelled_at"] = now
        changes["cancel_reason"] = reason
    with write_transaction(db):
        # Lock the row (SQLite: the IMMEDIATE transaction already holds the write
        # lock), so the status read here is the one the update replaces.
        query = Session.select(Session.status, Session.scheduled_at).where(
            (Session.id == session.id) & (Session.org == org_id) & Session.deleted_at.is_null()
        )
        current = (query.for_update() if is_postgres(db) else query).first()
        if current is None:
            raise NotFound("session", session.id)
        previous = SessionStatus(current.status)
        if previous not in sources:
            raise Conflict(
                f"cannot {action.value} a {previous.value} session; {action.value} is allowed "
                f"from {', '.join(sorted(sources))}",
                code="invalid_transition",
            )
        if action is Action.SCHEDULE and current.scheduled_at is None:
            raise Conflict("set scheduled_at before scheduling the session", code="not_schedulable")
        if action is Action.START:
            _refuse_busy_devices(db, session)
            pinned = _pin_form_version(session)
            if pinned is not None:
                changes["form_version"] = pinned
        Session.update(changes).where(Session.id == session.id).execute()
        SessionTransition.create(
            session=session.id,
            from_status=previous,
            to_status=target,
            occurred_at=now,
            by_user=by_user,
            reason=reason,
        )
        if target is S.CANCELLED:
            release_session(session.id)  # the host's time is free again
        event = _EVENTS.get(action)
        if event is not None:
            emit(org_id, event, session_data(reload_session(session)))
    wake()
    updated = reload_session(session)
    outcomes: list[DesiredStateRecord] = []
    # A tagging session turns its devices' continuous recording on while it is live, so a
    # log can ask for seconds the pre-roll ring no longer holds (docs/tagging.md).
    if action is Action.START:
        outcomes = control.set_active_session(
            updated, updated_by=by_user, recording=True if updated.tagging else UNCHANGED
        )
    elif previous is S.LIVE:  # ended or cancelled while live
        outcomes = control.clear_active_session(
            updated, updated_by=by_user, recording=None if updated.tagging else UNCHANGED
        )
    return TransitionOutcome(updated, outcomes)


def _refuse_busy_devices(db: Database, session: Session) -> None:
    """A device records one session at a time: refuse to start a second one on it."""
    device_ids = [
        fk_id(row, "device")
        for row in SessionDevice.select(SessionDevice.device).where(
            SessionDevice.session == session.id
        )
    ]
    if not device_ids:
        return
    if is_postgres(db):  # serialise concurrent starts that share a device
        list(Device.select(Device.id).where(Device.id.in_(device_ids)).for_update())
    busy = (
        SessionDevice.select(SessionDevice.device, Session.id, Session.title)
        .join(Session, on=(SessionDevice.session == Session.id))
        .where(
            SessionDevice.device.in_(device_ids)
            & (Session.status == S.LIVE)
            & (Session.id != session.id)
            & Session.deleted_at.is_null()
        )
        .first()
    )
    if busy is not None:
        raise Conflict(
            f"device {busy.device_id} is recording live session {busy.session.id} "
            f"({busy.session.title!r}); end it first",
            code="device_busy",
        )


def _pin_form_version(session: Session) -> FormVersion | None:
    """At start, a session follows its form's newest version; from then on it keeps it."""
    if fk_id(session, "form_template") is None:
        return None
    template = FormTemplate.get_by_id(fk_id(session, "form_template"))
    return FormVersion.get(
        (FormVersion.template == template.id) & (FormVersion.version == template.current_version)
    )
