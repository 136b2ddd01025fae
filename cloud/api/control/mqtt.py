"""Device control over the real broker: desired state (retained) and commands.

Both are recorded in the database first (``desired_state`` with a revision that
goes up on every change; ``command`` as ``pending``) and then published with
QoS 1; the row says whether the broker took it. Commands carry an expiry, so a
command that reaches a device late (it was offline) is refused by the device
rather than acted on.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from peewee import Database

from cloud.api.control.base import DesiredStateOutcome
from cloud.api.rows import fk_id
from cloud.api.transactions import write_transaction
from cloud.db import is_postgres
from cloud.models import Command, CommandState, DesiredStateRecord, Device, utc_now
from protocol.codec import encode
from protocol.control import ActiveSession, CommandBody, DesiredState
from protocol.control import Command as CommandMessage
from protocol.topics import Channel, Topic

__all__ = ["MqttDeviceControl", "Publisher"]

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        wait_s: float | None = None,
    ) -> None: ...


class MqttDeviceControl:
    """:class:`cloud.api.control.base.DeviceControl` over an MQTT publisher."""

    def __init__(
        self, db: Database, publisher: Publisher, *, prefix: str, publish_wait_s: float = 5.0
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.prefix = prefix
        self.publish_wait_s = publish_wait_s
        # Revision bump and publish happen under one lock per device, so the
        # broker never retains an older revision after a newer one (in this process).
        self._device_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_lock = threading.Lock()

    def _lock_for(self, device_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._device_locks[device_id]

    def set_active_session(
        self, *, device: Device, session: ActiveSession | None, by_user: UUID | None
    ) -> DesiredStateOutcome:
        with self._lock_for(device.id):
            revision, body = self._bump_revision(device, session, by_user)
            message = DesiredState.model_validate(
                {"org": device.org.slug, "device_id": device.id, "revision": revision, **body}
            )
            topic = Topic(self.prefix, device.org.slug, device.id, Channel.DESIRED)
            try:
                self.publisher.publish(
                    str(topic), encode(message), qos=1, retain=True, wait_s=self.publish_wait_s
                )
            except Exception as exc:
                log.warning("desired state %s for %s not published: %s", revision, device.id, exc)
                DesiredStateRecord.update(publish_error=str(exc)[:500]).where(
                    DesiredStateRecord.device == device.id
                ).execute()
                return DesiredStateOutcome(device.id, revision, False, str(exc))
            DesiredStateRecord.update(
                published_revision=revision, published_at=utc_now(), publish_error=None
            ).where(
                (DesiredStateRecord.device == device.id) & (DesiredStateRecord.revision == revision)
            ).execute()
            return DesiredStateOutcome(device.id, revision, True)

    def _bump_revision(
        self, device: Device, session: ActiveSession | None, by_user: UUID | None
    ) -> tuple[int, dict[str, Any]]:
        with write_transaction(self.db):
            query = DesiredStateRecord.select().where(DesiredStateRecord.device == device.id)
            if is_postgres(self.db):
                query = query.for_update()
            record = query.first()
            body: dict[str, Any] = dict(record.state) if record is not None else {}
            body["session"] = session.model_dump(mode="json") if session is not None else None
            # Check the whole body against the wire model before storing it.
            DesiredState.model_validate(
                {"org": device.org.slug, "device_id": device.id, "revision": 0, **body}
            )
            revision = (record.revision if record is not None else 0) + 1
            DesiredStateRecord.insert(
                device=device.id, revision=revision, state=body, updated_by=by_user
            ).on_conflict(
                conflict_target=[DesiredStateRecord.device],
                update={
                    DesiredStateRecord.revision: revision,
                    DesiredStateRecord.state: body,
                    DesiredStateRecord.updated_at: utc_now(),
                    DesiredStateRecord.updated_by: by_user,
                },
            ).execute()
            return revision, body

    def send_command(
        self,
        *,
        device: Device,
        body: CommandBody,
        session_id: UUID | None,
        requested_by: UUID | None,
        ttl: timedelta,
    ) -> Command:
        issued = utc_now()
        with write_transaction(self.db):
            row = Command.create(
                org=fk_id(device, "org"),
                device=device.id,
                session=session_id,
                type=body.type,
                body=body.model_dump(mode="json", exclude_none=True),
                requested_by=requested_by,
                issued_at=issued,
                expires_at=issued + ttl,
            )
        message = CommandMessage(
            org=device.org.slug,
            device_id=device.id,
            command_id=row.id,
            issued_at=issued,
            expires_at=row.expires_at,
            command=body,
        )
        topic = Topic(self.prefix, device.org.slug, device.id, Channel.COMMANDS)
        try:
            self.publisher.publish(str(topic), encode(message), qos=1, wait_s=self.publish_wait_s)
        except Exception as exc:
            log.warning("command %s for %s not published: %s", row.id, device.id, exc)
            self._advance(row, CommandState.FAILED, reason=f"not published: {exc}"[:500])
        else:
            self._advance(row, CommandState.SENT)
        return Command.get_by_id(row.id)

    @staticmethod
    def _advance(row: Command, state: CommandState, *, reason: str | None = None) -> None:
        changes: dict[Any, Any] = {Command.state: state, Command.reason: reason}
        if state is CommandState.SENT:
            changes[Command.sent_at] = utc_now()
        else:
            changes[Command.finished_at] = utc_now()
        # Only from pending: a fast device may already have acknowledged it.
        Command.update(changes).where(
            (Command.id == row.id) & (Command.state == CommandState.PENDING)
        ).execute()
