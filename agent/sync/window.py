"""The bounded window of messages sent but not yet receipted, per record kind.

Only message ids and counts live here; the records stay in SQLite. A message
times out only after the broker has PUBACKed it: before that paho itself
re-sends it on the next connection, and counting the time would re-send it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from protocol import RecordKind

__all__ = ["InFlight", "InFlightWindow"]


@dataclass
class InFlight:
    message_id: UUID
    kind: RecordKind
    raw_ids: frozenset[bytes]  # what the message carried: a receipt naming exactly these
    sent_at: float  # monotonic
    delivered_at: float | None = None  # monotonic, at the broker's PUBACK


class InFlightWindow:
    def __init__(self, per_kind: int) -> None:
        if per_kind < 1:
            raise ValueError("the window needs at least one message per kind")
        self.per_kind = per_kind
        self._messages: dict[UUID, InFlight] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def records(self) -> int:
        return sum(len(message.raw_ids) for message in self._messages.values())

    def free_slots(self, kind: RecordKind) -> int:
        used = sum(1 for message in self._messages.values() if message.kind == kind)
        return max(0, self.per_kind - used)

    def add(self, message: InFlight) -> None:
        self._messages[message.message_id] = message

    def delivered(self, message_id: UUID, now: float) -> None:
        message = self._messages.get(message_id)
        if message is not None and message.delivered_at is None:
            message.delivered_at = now

    def remove(self, message_id: UUID) -> InFlight | None:
        return self._messages.pop(message_id, None)

    def expired(self, now: float, timeout_s: float) -> list[InFlight]:
        """Remove and return the delivered messages whose receipt is overdue."""
        overdue = [
            message
            for message in self._messages.values()
            if message.delivered_at is not None and now - message.delivered_at >= timeout_s
        ]
        for message in overdue:
            del self._messages[message.message_id]
        return overdue

    def expire_delivered(self) -> list[InFlight]:
        """The broker lost our session, and with it any receipt queued for us."""
        lost = [m for m in self._messages.values() if m.delivered_at is not None]
        for message in lost:
            del self._messages[message.message_id]
        return lost
