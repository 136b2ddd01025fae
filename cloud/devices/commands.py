"""One-shot commands to devices: their states, and the device's acknowledgements.

A command only moves forward: pending → sent → acknowledged → done / refused /
failed. A device's answer also overrides what the cloud concluded on its own
(``expired``, or ``failed`` because the broker did not take it in time): the
device knows better whether it carried the command out.
"""

from __future__ import annotations

from datetime import datetime

from cloud.models import Command, CommandAckRecord, CommandState
from protocol import AckStatus, CommandAck

__all__ = ["ACK_STATES", "expire_commands", "record_ack"]

ACK_STATES: dict[AckStatus, CommandState] = {
    AckStatus.ACCEPTED: CommandState.ACKNOWLEDGED,
    AckStatus.DONE: CommandState.DONE,
    AckStatus.REFUSED: CommandState.REFUSED,
    AckStatus.FAILED: CommandState.FAILED,
}
_RANK = {
    CommandState.PENDING: 0,
    CommandState.SENT: 1,
    CommandState.ACKNOWLEDGED: 2,
    CommandState.DONE: 3,
    CommandState.REFUSED: 3,
    CommandState.FAILED: 3,
    CommandState.EXPIRED: 3,
}


def record_ack(device_id: str, ack: CommandAck, received_at: datetime) -> Command | None:
    """Store the acknowledgement and advance the command; None if the device has no
    such command (another device's, or unknown)."""
    command = Command.get_or_none((Command.id == ack.command_id) & (Command.device == device_id))
    if command is None:
        return None
    heard_before = CommandAckRecord.select().where(CommandAckRecord.command == command.id).exists()
    inserted = (
        CommandAckRecord.insert(
            id=ack.message_id,
            command=command.id,
            device=device_id,
            status=ack.status,
            reason=ack.reason,
            result=ack.result or None,
            sent_at=ack.sent_at,
            received_at=received_at,
        )
        .on_conflict_ignore()
        .as_rowcount()
        .execute()
    )
    if not inserted:
        return command  # a re-delivery of an ack already applied
    new_state = ACK_STATES[ack.status]
    concluded_by_cloud = command.state is CommandState.EXPIRED or (
        command.state is CommandState.FAILED and not heard_before
    )
    if _RANK[new_state] <= _RANK[command.state] and not concluded_by_cloud:
        return command
    changes: dict[str, object] = {"state": new_state, "reason": ack.reason}
    if new_state is CommandState.ACKNOWLEDGED:
        changes["acknowledged_at"] = ack.sent_at
    else:
        changes["finished_at"] = ack.sent_at
        changes["acknowledged_at"] = command.acknowledged_at or ack.sent_at
        changes["result"] = ack.result or None
    Command.update(**changes).where(Command.id == command.id).execute()
    return Command.get_by_id(command.id)


def expire_commands(now: datetime) -> int:
    """Mark commands the device never answered before their expiry."""
    return int(
        Command.update(
            state=CommandState.EXPIRED, finished_at=now, reason="no answer before expiry"
        )
        .where(
            Command.state.in_([CommandState.PENDING, CommandState.SENT])
            & (Command.expires_at < now)
        )
        .execute()
    )
