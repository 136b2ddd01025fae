"""What the cloud told the box, kept across restarts: the desired state and handled commands.

The desired state is stored only if its revision is newer than the stored one
(compare-and-set in SQL), so an old retained message can never roll it back.
A command id is recorded *before* the command runs: after a crash it is not
run twice, and its ack says it was interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from peewee import Database

from agent.buffer.models import Tables

__all__ = ["CommandLedger", "DesiredStateStore", "HandledCommand", "StoredDesired"]

HANDLING = "handling"  # recorded, not yet finished


@dataclass(frozen=True, slots=True)
class StoredDesired:
    revision: int
    body: str  # the DesiredState message as received (wire JSON)
    received_at: float


@dataclass(frozen=True, slots=True)
class HandledCommand:
    command_id: UUID
    received_at: float
    expires_at: float
    status: str  # an AckStatus value, or "handling"
    ack_body: str  # CommandAck wire JSON; empty while handling
    ack_published: bool


class DesiredStateStore:
    def __init__(self, database: Database, tables: Tables) -> None:
        self._database = database
        self._tables = tables

    def load(self) -> StoredDesired | None:
        row = self._tables.desired.get_or_none()
        return None if row is None else StoredDesired(row.revision, row.body, row.received_at)

    def save_if_newer(self, revision: int, body: str, now: float) -> bool:
        """Store it when ``revision`` is above the stored one; True if stored."""
        desired = self._tables.desired
        with self._database.atomic("IMMEDIATE"):
            changed = (
                desired.update(revision=revision, body=body, received_at=now)
                .where(desired.revision < revision)
                .execute()
            )
            if changed:
                return True
            created = (
                desired.insert(singleton=1, revision=revision, body=body, received_at=now)
                .on_conflict_ignore()
                .as_rowcount()
                .execute()
            )
            return bool(created)


class CommandLedger:
    def __init__(self, database: Database, tables: Tables) -> None:
        self._database = database
        self._tables = tables

    def get(self, command_id: UUID) -> HandledCommand | None:
        row = self._tables.commands.get_or_none(self._tables.commands.command_id == command_id)
        return None if row is None else _handled(row)

    def claim(self, command_id: UUID, *, received_at: float, expires_at: float) -> bool:
        """Record that we are handling it; False if it was handled before (a duplicate)."""
        commands = self._tables.commands
        inserted = (
            commands.insert(
                command_id=command_id,
                received_at=received_at,
                expires_at=expires_at,
                status=HANDLING,
                ack_body="",
            )
            .on_conflict_ignore()
            .as_rowcount()
            .execute()
        )
        return bool(inserted)

    def finish(self, command_id: UUID, status: str, ack_body: str) -> None:
        commands = self._tables.commands
        commands.update(status=status, ack_body=ack_body, ack_published=False).where(
            commands.command_id == command_id
        ).execute()

    def mark_ack_published(self, command_id: UUID) -> None:
        commands = self._tables.commands
        commands.update(ack_published=True).where(commands.command_id == command_id).execute()

    def unpublished(self, limit: int = 100) -> list[HandledCommand]:
        """Acks the broker has not yet accepted, and commands a crash interrupted."""
        commands = self._tables.commands
        return [
            _handled(row)
            for row in commands.select()
            .where(commands.ack_published == False)  # noqa: E712 - peewee expression
            .order_by(commands.received_at)
            .limit(limit)
        ]

    def prune(self, expired_before: float) -> int:
        """Forget commands long expired: a copy arriving now would be refused as expired."""
        commands = self._tables.commands
        return int(
            commands.delete()
            .where((commands.expires_at < expired_before) & (commands.ack_published == True))  # noqa: E712
            .execute()
        )


def _handled(row: object) -> HandledCommand:
    return HandledCommand(
        command_id=row.command_id,  # type: ignore[attr-defined]
        received_at=row.received_at,  # type: ignore[attr-defined]
        expires_at=row.expires_at,  # type: ignore[attr-defined]
        status=row.status,  # type: ignore[attr-defined]
        ack_body=row.ack_body,  # type: ignore[attr-defined]
        ack_published=bool(row.ack_published),  # type: ignore[attr-defined]
    )
