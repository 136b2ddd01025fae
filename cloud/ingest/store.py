"""Write a group of decoded messages in one transaction.

Checks each message's sender against the device registry (the topic's device
must exist, not be retired, and belong to the topic's organisation, which the
message must repeat), writes records, statuses, heartbeats and command acks,
and the dead letters of whatever was refused — all in one commit, so that the
worker acknowledges the MQTT messages only once all of it is durable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

from peewee import Database

from cloud.db import write_transaction
from cloud.devices.commands import record_ack
from cloud.ingest.config import IngestConfig
from cloud.ingest.decoding import Decoded, Problem
from cloud.ingest.health import apply_heartbeat, apply_status, prune_heartbeats
from cloud.ingest.record_writer import RecordMessage, write_records
from cloud.models import DeadLetter, Device, Organisation
from protocol import CommandAck, Heartbeat, Receipt, Status

__all__ = ["GroupResult", "IngestStore"]


@dataclass(slots=True)
class GroupResult:
    receipts: list[tuple[Decoded, Receipt]] = field(default_factory=list)
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    clips_to_verify: bool = False


@dataclass(frozen=True, slots=True)
class _Sender:
    device_id: str
    org_id: UUID
    org_slug: str
    retired: bool


class IngestStore:
    def __init__(self, database: Database, config: IngestConfig, *, worker: str) -> None:
        self.database = database
        self.config = config
        self.worker = worker

    def write(self, group: list[Decoded], *, isolate: bool = False) -> GroupResult:
        """Everything in ``group`` in one transaction; raises if the database fails.

        ``isolate``: insert records one by one so that a row the database refuses
        is rejected instead of failing the group (the retry after a permanent error).
        """
        with write_transaction(self.database):
            return self._write(group, isolate)

    def _write(self, group: list[Decoded], isolate: bool) -> GroupResult:
        result = GroupResult()
        senders = self._senders({d.topic.device for d in group if d.topic is not None})
        by_kind: dict[str, list[tuple[Decoded, RecordMessage]]] = {}
        for decoded in group:
            sender = self._check_sender(decoded, senders)
            if sender is not None and decoded.topic is not None:
                if decoded.is_records:
                    if decoded.message is not None or decoded.rejected:
                        by_kind.setdefault(decoded.topic.channel.value, []).append(
                            (decoded, self._record_message(decoded, sender))
                        )
                elif decoded.message is not None:
                    self._apply_device_message(decoded, sender)
            if decoded.problem is not None:
                self._dead_letter(decoded, decoded.problem)
                result.dead_letters[decoded.problem.code] += 1
        for kind, items in by_kind.items():
            totals = write_records(self.database, kind, [m for _, m in items], isolate=isolate)
            result.inserted += totals.inserted
            result.duplicates += totals.duplicates
            result.rejected += totals.rejected + sum(len(d.rejected) for d, _ in items)
            result.clips_to_verify |= kind == "clips"
            for decoded, message in items:
                receipt = self._receipt(decoded, message, kind)
                if receipt is not None:
                    result.receipts.append((decoded, receipt))
        return result

    # -- senders ----------------------------------------------------------------------

    def _senders(self, device_ids: set[str]) -> dict[str, _Sender]:
        if not device_ids:
            return {}
        query = (
            Device.select(Device.id, Organisation.id, Organisation.slug, Device.retired_at)
            .join(Organisation)
            .where(Device.id.in_(sorted(device_ids)))
            .tuples()
        )
        rows: list[tuple[str, UUID, str, object]] = list(query)  # type: ignore[arg-type]
        return {
            device_id: _Sender(device_id, org_id, slug, retired_at is not None)
            for device_id, org_id, slug, retired_at in rows
        }

    @staticmethod
    def _check_sender(decoded: Decoded, senders: dict[str, _Sender]) -> _Sender | None:
        """The registered sender of ``decoded``, or None with ``decoded.problem`` set.

        A message from an unknown, retired or misplaced device is not answered at
        all: no receipt, so the box keeps its records until an operator fixes it.
        """
        topic = decoded.topic
        if topic is None:
            return None
        sender = senders.get(topic.device)
        message = decoded.message
        problem: Problem | None = None
        if sender is None:
            problem = Problem("unknown_device", f"device {topic.device!r} is not registered")
        elif sender.retired:
            problem = Problem("retired_device", f"device {topic.device!r} is retired")
        elif sender.org_slug != topic.org:
            problem = Problem(
                "wrong_org",
                f"device {topic.device!r} belongs to organisation {sender.org_slug!r}, "
                f"not {topic.org!r} as the topic says",
            )
        elif message is not None and (message.org, message.device_id) != (topic.org, topic.device):
            problem = Problem(
                "topic_mismatch",
                f"the message says {message.org}/{message.device_id} but arrived on "
                f"{topic.org}/{topic.device}",
            )
        if problem is None:
            return sender
        if decoded.problem is not None:
            problem = Problem(problem.code, f"{problem.reason}; also: {decoded.problem.reason}")
        decoded.problem, decoded.message, decoded.rejected = problem, None, []
        return None

    # -- writes -----------------------------------------------------------------------

    @staticmethod
    def _record_message(decoded: Decoded, sender: _Sender) -> RecordMessage:
        records = decoded.message.records if decoded.message is not None else []  # type: ignore[attr-defined]
        return RecordMessage(
            org_id=sender.org_id,
            device_id=sender.device_id,
            message_id=decoded.message_id,
            received_at=decoded.inbound.received_at,
            records=records,
            prepared=decoded.prepared,
        )

    def _apply_device_message(self, decoded: Decoded, sender: _Sender) -> None:
        message, at = decoded.message, decoded.inbound.received_at
        if isinstance(message, Status):
            apply_status(sender.device_id, message, at)
        elif isinstance(message, Heartbeat):
            if apply_heartbeat(sender.device_id, message, at):
                prune_heartbeats(
                    sender.device_id,
                    keep_s=self.config.heartbeat_history_s,
                    keep_max=self.config.heartbeat_history_max,
                    now=at,
                )
        elif isinstance(message, CommandAck):
            if record_ack(sender.device_id, message, at) is None:
                decoded.problem = Problem(
                    "unknown_command",
                    f"command {message.command_id} is not a command of {sender.device_id!r}",
                )

    def _receipt(self, decoded: Decoded, message: RecordMessage, kind: str) -> Receipt | None:
        rejected = [*decoded.rejected, *message.rejected]
        if (not message.stored and not rejected) or decoded.message_id is None:
            return None
        topic = decoded.topic
        assert topic is not None
        return Receipt(
            org=topic.org,
            device_id=topic.device,
            kind=kind,
            for_message_id=decoded.message_id,
            stored=message.stored,
            rejected=rejected,
        )

    def _dead_letter(self, decoded: Decoded, problem: Problem) -> None:
        payload = decoded.inbound.payload
        limit = self.config.dead_letter_payload_bytes
        topic = decoded.topic
        DeadLetter.create(
            received_at=decoded.inbound.received_at,
            topic=decoded.inbound.topic,
            org=topic.org if topic else None,
            device_id=topic.device if topic else None,
            channel=topic.channel.value if topic else None,
            code=problem.code,
            reason=problem.reason[:4000],
            payload=payload[:limit],
            payload_size=len(payload),
            truncated=len(payload) > limit,
            message_id=decoded.message_id,
            worker=self.worker,
        )
