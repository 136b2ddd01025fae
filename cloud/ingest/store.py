"""Write a group of decoded messages in one transaction.

Checks each message's sender against the device registry (the topic's device
must exist, not be retired, and belong to the topic's organisation, which the
message must repeat), writes records, statuses, heartbeats and command acks,
and the dead letters of whatever was refused — all in one commit, so that the
worker acknowledges the MQTT messages only once all of it is durable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from peewee import Database

from cloud.db import write_transaction
from cloud.devices.commands import record_ack
from cloud.ingest.config import IngestConfig
from cloud.ingest.decoding import Decoded, Problem
from cloud.ingest.health import apply_heartbeat, apply_status, prune_heartbeats
from cloud.ingest.record_writer import RecordMessage, write_records
from cloud.models import DeadLetter, Device, IngestAttempt, Organisation, utc_now
from protocol import (
    MAX_PAYLOAD_BYTES,
    MAX_RECORDS_PER_BATCH,
    CommandAck,
    Heartbeat,
    Receipt,
    Status,
)

__all__ = ["KEEP_WHOLE_PAYLOAD", "GroupResult", "IngestStore"]

KEEP_WHOLE_PAYLOAD = frozenset({"internal_error", "poison"})
"""Dead letters whose records a replay may still store: their payload is kept whole."""


@dataclass(slots=True)
class GroupResult:
    receipts: list[tuple[Decoded, Receipt]] = field(default_factory=list)
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    clips_to_verify: bool = False
    tags_to_request: bool = False  # a device's tag: its session's other devices are asked
    # record channel -> (inserted, duplicates, rejected), for the metrics
    by_channel: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def absorb(self, other: GroupResult) -> None:
        """Add ``other``'s figures (a message written alone) to these."""
        self.receipts.extend(other.receipts)
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.dead_letters.update(other.dead_letters)
        self.clips_to_verify |= other.clips_to_verify
        self.tags_to_request |= other.tags_to_request
        for channel, counts in other.by_channel.items():
            mine = self.by_channel.get(channel, (0, 0, 0))
            self.by_channel[channel] = (
                mine[0] + counts[0],
                mine[1] + counts[1],
                mine[2] + counts[2],
            )


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

    def write(
        self, group: list[Decoded], *, isolate: bool = False, finished: Iterable[str] = ()
    ) -> GroupResult:
        """Everything in ``group`` in one transaction; raises if the database fails.

        ``isolate``: insert records one by one so that a row the database refuses
        is rejected instead of failing the group (the retry after a permanent error).
        ``finished``: digests of re-delivered messages begun with :meth:`begin_attempt`,
        whose attempt rows go in the same commit.
        """
        with write_transaction(self.database):
            result = self._write(group, isolate)
            digests = list(finished)
            if digests:
                IngestAttempt.delete().where(IngestAttempt.digest.in_(digests)).execute()
            return result

    def begin_attempt(self, digest: str, topic: str) -> int:
        """Count one more start on a re-delivered message, committed before the worker
        handles it; returns how many starts it has had, this one included."""
        now = utc_now()
        with write_transaction(self.database):
            row = IngestAttempt.get_or_none(IngestAttempt.digest == digest)
            if row is None:
                IngestAttempt.create(
                    digest=digest,
                    topic=topic,
                    attempts=1,
                    first_at=now,
                    last_at=now,
                    worker=self.worker,
                )
                return 1
            IngestAttempt.update(
                attempts=IngestAttempt.attempts + 1, last_at=now, worker=self.worker
            ).where(IngestAttempt.digest == digest).execute()
            return int(row.attempts) + 1

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
        for kind, items in by_kind.items():
            totals = write_records(self.database, kind, [m for _, m in items], isolate=isolate)
            rejected = totals.rejected + sum(len(d.rejected) for d, _ in items)
            result.inserted += totals.inserted
            result.duplicates += totals.duplicates
            result.rejected += rejected
            result.by_channel[kind] = (totals.inserted, totals.duplicates, rejected)
            result.clips_to_verify |= kind == "clips"
            if kind == "logs" and totals.inserted:
                result.tags_to_request |= any(
                    record.clip is not None for _, m in items for record in m.records
                )
            for decoded, message in items:
                if message.failures:
                    decoded.problem = _with_failures(decoded.problem, message.failures)
                for receipt in self._receipts(decoded, message, kind):
                    result.receipts.append((decoded, receipt))
        for decoded in group:
            if decoded.problem is not None:
                self._dead_letter(decoded, decoded.problem)
                result.dead_letters[decoded.problem.code] += 1
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

    def _receipts(self, decoded: Decoded, message: RecordMessage, kind: str) -> list[Receipt]:
        """The receipt for ``decoded``: one, or several when it names more ids than
        one receipt holds (a batch of more records than a batch may have)."""
        rejected = [*decoded.rejected, *message.rejected]
        if (not message.stored and not rejected) or decoded.message_id is None:
            return []
        topic = decoded.topic
        assert topic is not None
        size = MAX_RECORDS_PER_BATCH
        parts = max(-(-len(message.stored) // size), -(-len(rejected) // size))
        return [
            Receipt(
                org=topic.org,
                device_id=topic.device,
                kind=kind,
                for_message_id=decoded.message_id,
                stored=message.stored[part * size : (part + 1) * size],
                rejected=rejected[part * size : (part + 1) * size],
            )
            for part in range(parts)
        ]

    def _dead_letter(self, decoded: Decoded, problem: Problem) -> None:
        payload = decoded.inbound.payload
        limit = self.config.dead_letter_payload_bytes
        if problem.code in KEEP_WHOLE_PAYLOAD:
            limit = max(limit, MAX_PAYLOAD_BYTES)
        topic = decoded.topic
        DeadLetter.create(
            received_at=decoded.inbound.received_at,
            topic=decoded.inbound.topic,
            org=topic.org if topic else None,
            device_id=topic.device if topic else None,
            channel=topic.channel.value if topic else None,
            code=problem.code,
            reason=problem.reason[:4000].replace("\x00", "\\0"),  # PostgreSQL text has no NUL
            payload=payload[:limit],
            payload_size=len(payload),
            truncated=len(payload) > limit,
            message_id=decoded.message_id,
            worker=self.worker,
        )


def _with_failures(problem: Problem | None, failures: dict[UUID, str]) -> Problem:
    listed = "; ".join(f"{record_id}: {cause}" for record_id, cause in list(failures.items())[:5])
    more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
    reason = (
        f"the cloud could not file {len(failures)} record(s), refused in the receipt: "
        f"{listed}{more}"
    )
    if problem is not None:
        reason = f"{reason}; also: {problem.code}: {problem.reason}"
    return Problem("internal_error", reason)
