"""Recording a device's command acknowledgements (idempotent, forward-only).

Each ack is stored once (its message id is the primary key), and moves its
command forward: ``accepted`` -> acknowledged, ``done`` -> done with the result
(e.g. the clip ids), ``refused`` / ``failed`` -> the same. A late or repeated
ack never moves a command back.
"""

from __future__ import annotations

import logging

from peewee import Database

from cloud.api.rows import fk_id
from cloud.api.transactions import write_transaction
from cloud.models import Command, CommandAckRecord, CommandState, Device, utc_now
from protocol.codec import ProtocolError, decode_as
from protocol.device import AckStatus, CommandAck
from protocol.topics import Channel, TopicError, parse_topic

__all__ = ["AckRecorder", "record_ack"]

log = logging.getLogger(__name__)

_RANK = {
    CommandState.PENDING: 0,
    CommandState.SENT: 1,
    CommandState.ACKNOWLEDGED: 2,
    CommandState.DONE: 3,
    CommandState.REFUSED: 3,
    CommandState.FAILED: 3,
    CommandState.EXPIRED: 3,
}
_STATE_FOR = {
    AckStatus.ACCEPTED: CommandState.ACKNOWLEDGED,
    AckStatus.DONE: CommandState.DONE,
    AckStatus.REFUSED: CommandState.REFUSED,
    AckStatus.FAILED: CommandState.FAILED,
}


def record_ack(db: Database, ack: CommandAck) -> bool:
    """Store ``ack`` and advance its command; False when it names no command of that device."""
    with write_transaction(db):
        command = Command.get_or_none(Command.id == ack.command_id)
        device = Device.get_or_none(Device.id == ack.device_id)
        if command is None or device is None or fk_id(command, "device") != ack.device_id:
            log.warning("ack from %s for unknown command %s", ack.device_id, ack.command_id)
            return False
        if device.org.slug != ack.org:
            log.warning("ack from %s names org %s, not its own", ack.device_id, ack.org)
            return False
        CommandAckRecord.insert(
            id=ack.message_id,
            command=command.id,
            device=ack.device_id,
            status=ack.status,
            reason=ack.reason,
            result=ack.result or None,
            sent_at=ack.sent_at,
        ).on_conflict_ignore().execute()
        target = _STATE_FOR[ack.status]
        if _RANK[target] <= _RANK[CommandState(command.state)]:
            return True  # a repeat, or an older ack arriving after a newer one
        now = utc_now()
        changes: dict[str, object] = {"state": target}
        if target is CommandState.ACKNOWLEDGED:
            changes["acknowledged_at"] = now
        else:
            changes["finished_at"] = now
            changes["acknowledged_at"] = command.acknowledged_at or now
            changes["reason"] = ack.reason
            if ack.result:
                changes["result"] = ack.result
        Command.update(changes).where(Command.id == command.id).execute()
        return True


class AckRecorder:
    """Decodes messages from the ``acks`` channel and records them."""

    def __init__(self, db: Database, *, prefix: str) -> None:
        self.db = db
        self.prefix = prefix
        self.recorded = 0
        self.rejected = 0

    def __call__(self, topic: str, payload: bytes) -> None:
        try:
            parsed = parse_topic(topic, prefix=self.prefix)
            if parsed.channel is not Channel.ACKS:
                raise TopicError(f"not an acks topic: {topic}")
            ack = decode_as(CommandAck, payload)
            if ack.device_id != parsed.device or ack.org != parsed.org:
                raise TopicError(f"ack names {ack.org}/{ack.device_id}, topic says {topic}")
        except (ProtocolError, TopicError) as exc:
            self.rejected += 1
            log.warning("ignoring a bad ack on %s: %s", topic, exc)
            return
        if record_ack(self.db, ack):
            self.recorded += 1
        else:
            self.rejected += 1
