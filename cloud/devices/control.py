"""Telling devices what to do: retained desired state and one-shot commands.

The API (and the ingest at start-up) use :class:`DeviceControl`:

- ``update_desired_state(device_id, session=…, detection=…)`` changes a device's
  desired state; the revision goes up by one in the database, then the retained
  :class:`protocol.DesiredState` is published. A publisher re-reads the revision
  after the broker took its message and publishes again if a newer one was
  committed meanwhile, so the broker's retained copy converges on the newest
  even when two processes publish at once.
- ``set_active_session(session)`` / ``clear_active_session(session)`` do that for
  every device that records a session (start / end).
- ``send_command(device_id, TriggerClip(…))`` records a :class:`Command` and
  publishes it with an expiry; its state then follows the device's acks
  (``cloud.devices.commands.record_ack``, called by the ingest).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from cloud.db import write_transaction
from cloud.models import (
    Command,
    CommandState,
    DesiredStateRecord,
    Device,
    FormVersion,
    Session,
    SessionDevice,
    User,
    utc_now,
)
from cloud.mqtt import MessagePublisher, PublishError
from protocol import (
    ActiveSession,
    Channel,
    CommandBody,
    DesiredState,
    Topic,
    encode,
)
from protocol import Command as CommandMessage

__all__ = ["UNCHANGED", "DeviceControl"]

log = logging.getLogger(__name__)

UNCHANGED: Any = object()
"""Default of every ``update_desired_state`` field: keep what the device has."""

_BODY_FIELDS = ("session", "detection", "clip_defaults", "recording", "model")


class DeviceControl:
    def __init__(
        self,
        publisher: MessagePublisher,
        *,
        prefix: str = "sideline",
        publish_timeout_s: float = 5.0,
        command_ttl_s: float = 60.0,
    ) -> None:
        self.publisher = publisher
        self.prefix = prefix
        self.publish_timeout_s = publish_timeout_s
        self.command_ttl_s = command_ttl_s

    def _topic(self, device: Device, channel: Channel) -> str:
        return str(Topic(self.prefix, device.org.slug, device.id, channel))

    # -- desired state --------------------------------------------------------------

    def update_desired_state(
        self,
        device_id: str,
        *,
        session: ActiveSession | None = UNCHANGED,
        detection: Any = UNCHANGED,
        clip_defaults: Any = UNCHANGED,
        recording: bool | None = UNCHANGED,
        model: Any = UNCHANGED,
        updated_by: User | UUID | None = None,
    ) -> DesiredStateRecord:
        """Change some fields, bump the revision, publish. Returns the stored row
        (``published_revision`` says whether the broker has it; if not, it is
        published again by :meth:`republish_pending`)."""
        changes = {
            "session": session,
            "detection": detection,
            "clip_defaults": clip_defaults,
            "recording": recording,
            "model": model,
        }
        with write_transaction():
            device = Device.get_by_id(device_id)
            row = DesiredStateRecord.get_or_none(DesiredStateRecord.device == device_id)
            current = dict(row.state) if row is not None else {}
            for name, value in changes.items():
                if value is not UNCHANGED:
                    current[name] = (
                        value.model_dump(mode="json") if hasattr(value, "model_dump") else value
                    )
            # Validate (and normalise) through the wire model before storing.
            body = DesiredState(org=device.org.slug, device_id=device_id, revision=0, **current)
            state = body.model_dump(mode="json", include=set(_BODY_FIELDS))
            if row is None:
                DesiredStateRecord.create(
                    device=device_id, revision=1, state=state, updated_by=updated_by
                )
            else:
                DesiredStateRecord.update(
                    revision=DesiredStateRecord.revision + 1,
                    state=state,
                    updated_at=utc_now(),
                    updated_by=updated_by,
                ).where(DesiredStateRecord.device == device_id).execute()
        self._publish_desired(device)
        return DesiredStateRecord.get_by_id(device_id)

    def set_active_session(
        self,
        session: Session,
        *,
        updated_by: User | UUID | None = None,
        recording: bool | None = UNCHANGED,
    ) -> list[DesiredStateRecord]:
        """Tell every device of ``session`` that it is the active one (session start);
        ``recording=True`` also turns continuous recording on (a tagging session)."""
        version = (
            FormVersion.get_by_id(session.form_version_id)
            if session.form_version_id is not None
            else None
        )
        active = ActiveSession(
            session_id=session.id,
            name=session.title[:200],
            form_id=session.form_template_id,
            form_version=version.version if version is not None else None,
            form_fields=version.fields if version is not None else None,
        )
        return [
            self.update_desired_state(
                device_id, session=active, recording=recording, updated_by=updated_by
            )
            for device_id in _devices_of(session)
        ]

    def clear_active_session(
        self,
        session: Session,
        *,
        updated_by: User | UUID | None = None,
        recording: bool | None = UNCHANGED,
    ) -> list[DesiredStateRecord]:
        """Clear the active session on the devices where it is ``session`` (session end);
        ``recording=None`` hands recording back to each device's own configuration."""
        cleared = []
        for device_id in _devices_of(session):
            row = DesiredStateRecord.get_or_none(DesiredStateRecord.device == device_id)
            active = (row.state or {}).get("session") if row is not None else None
            if active and active.get("session_id") == str(session.id):
                cleared.append(
                    self.update_desired_state(
                        device_id, session=None, recording=recording, updated_by=updated_by
                    )
                )
        return cleared

    def republish_pending(self) -> int:
        """Publish every desired state the broker may not have (e.g. after an outage)."""
        rows = DesiredStateRecord.select().where(
            DesiredStateRecord.published_revision.is_null()
            | (DesiredStateRecord.published_revision < DesiredStateRecord.revision)
        )
        published = 0
        for row in rows:
            published += self._publish_desired(row.device)
        return published

    def _publish_desired(self, device: Device) -> int:
        published = 0
        for _ in range(5):
            row = DesiredStateRecord.get_by_id(device.id)
            if row.published_revision is not None and row.published_revision >= row.revision:
                return published
            message = DesiredState(
                org=device.org.slug, device_id=device.id, revision=row.revision, **row.state
            )
            try:
                self.publisher.publish(
                    self._topic(device, Channel.DESIRED),
                    encode(message),
                    qos=1,
                    retain=True,
                    wait_s=self.publish_timeout_s,
                )
            except PublishError as exc:
                log.warning("desired state of %s not published: %s", device.id, exc)
                DesiredStateRecord.update(publish_error=str(exc)[:500]).where(
                    DesiredStateRecord.device == device.id
                ).execute()
                return published
            published += 1
            DesiredStateRecord.update(
                published_revision=row.revision, published_at=utc_now(), publish_error=None
            ).where(
                (DesiredStateRecord.device == device.id)
                & (
                    DesiredStateRecord.published_revision.is_null()
                    | (DesiredStateRecord.published_revision < row.revision)
                )
            ).execute()
        return published

    # -- commands -------------------------------------------------------------------

    def send_command(
        self,
        device_id: str,
        body: CommandBody,
        *,
        ttl_s: float | None = None,
        session: Session | UUID | None = None,
        requested_by: User | UUID | None = None,
        log_id: UUID | None = None,
    ) -> Command:
        """Record and publish a command; returns it as ``sent`` or ``failed``.
        ``log_id``: the tag (log) a clip command is for."""
        device = Device.get_by_id(device_id)
        now = utc_now()
        expires_at = now + timedelta(seconds=ttl_s if ttl_s is not None else self.command_ttl_s)
        command = Command.create(
            org=device.org_id,
            device=device_id,
            session=session,
            type=body.type,
            body=body.model_dump(mode="json", exclude_none=True),
            requested_by=requested_by,
            issued_at=now,
            expires_at=expires_at,
            log_id=log_id,
        )
        message = CommandMessage(
            org=device.org.slug,
            device_id=device_id,
            command_id=command.id,
            issued_at=now,
            expires_at=expires_at,
            command=body,
        )
        try:
            self.publisher.publish(
                self._topic(device, Channel.COMMANDS),
                encode(message),
                qos=1,
                wait_s=self.publish_timeout_s,
            )
        except PublishError as exc:
            outcome = {
                "state": CommandState.FAILED,
                "reason": str(exc)[:500],
                "finished_at": utc_now(),
            }
        else:
            outcome = {"state": CommandState.SENT, "sent_at": utc_now()}
        # An ack may already have moved it on: only a pending command takes this outcome.
        Command.update(**outcome).where(
            (Command.id == command.id) & (Command.state == CommandState.PENDING)
        ).execute()
        return Command.get_by_id(command.id)


def _devices_of(session: Session) -> list[str]:
    query = (
        SessionDevice.select(SessionDevice.device)
        .where(SessionDevice.session == session.id)
        .distinct()
    )
    return sorted(str(row.device_id) for row in query)
