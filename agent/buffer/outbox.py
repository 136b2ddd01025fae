"""The store's side of syncing records: claim batches to send, apply receipts, requeue.

A claimed batch is marked PUBLISHED with its message id in the same
transaction that read it, so two claims never take the same row. Only a
receipt marks rows ACKED (or REJECTED); a message that stays unreceipted is
requeued by the publisher, and at start-up every PUBLISHED row is requeued,
since its receipt may never come. Re-sending is harmless: the ingest is
idempotent on the record ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from peewee import Database

from agent.buffer.models import SyncState, Tables
from protocol import Backlog, RecordKind

__all__ = ["KINDS", "ClaimedBatch", "Outbox", "ReceiptUpdate"]

log = logging.getLogger(__name__)

KINDS: tuple[RecordKind, ...] = ("clips", "events", "logs")

# Logs and events are sendable once stored; a clip once its files are in S3.
_READY: dict[str, SyncState] = {
    "logs": SyncState.PENDING,
    "events": SyncState.PENDING,
    "clips": SyncState.UPLOADED,
}
_CHUNK = 500  # ids per IN (...) clause
# The WHERE terms of the partial indexes in agent/buffer/schema.py, verbatim.
_UNSYNCED = "state < 4"
_IN_FLIGHT = "state = 3"


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    kind: RecordKind
    message_id: UUID
    raw_ids: list[bytes]  # 16-byte UUIDs, as stored
    bodies: list[bytes]  # each record's wire JSON (UTF-8), oldest first
    resent: bool = False  # some row was sent before (and got no receipt)

    @property
    def ids(self) -> list[UUID]:
        return [UUID(bytes=raw) for raw in self.raw_ids]


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """What one receipt says, decoupled from the wire model."""

    kind: RecordKind
    stored: Sequence[UUID]
    rejected: Sequence[tuple[UUID, str]]
    # Set when ``stored`` is exactly the set of rows sent in that message.
    whole_message: UUID | None = None
    # The message it answers: rows of it the receipt does not name were not taken
    # (the ingest could not check or store them now) and are sent again later.
    for_message: UUID | None = None


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    acked: int
    rejected: int
    left_out: int = 0


class Outbox:
    def __init__(self, database: Database, tables: Tables) -> None:
        self._database = database
        self._tables = tables

    def claim(
        self,
        kind: RecordKind,
        message_ids: Sequence[UUID],
        *,
        max_records: int,
        max_bytes: int,
        now: float,
        max_delay_s: float,
    ) -> list[ClaimedBatch]:
        """Up to ``len(message_ids)`` batches of ready rows, oldest first, in one transaction.

        A row whose body alone exceeds ``max_bytes`` can never be sent: it is
        marked REJECTED here, with the reason, and logged. (Raw SQL on peewee's
        connection: this is the hot path, and peewee's row conversion cost more
        than the query.)
        """
        ready = int(_READY[kind])
        batches: list[ClaimedBatch] = []
        with self._database.atomic("IMMEDIATE"):
            # ``state < 4`` is spelled out literally: SQLite uses a partial index only
            # when the query repeats the index's own WHERE term (else: a full scan).
            # The body is read as a BLOB: it goes out as bytes, so decoding it to str
            # and encoding it back would only cost time.
            rows: list[tuple[int, bytes, bytes, int]] = self._database.execute_sql(
                "SELECT seq, id, CAST(body AS BLOB), attempts "
                f"FROM {kind} WHERE {_UNSYNCED} AND state = {ready} "
                "AND (next_attempt_at <= ? OR next_attempt_at > ?) ORDER BY seq LIMIT ?",
                (now, now + max_delay_s, max_records * len(message_ids)),
            ).fetchall()
            position = 0
            for message_id in message_ids:
                seqs: list[int] = []
                ids: list[bytes] = []
                bodies: list[bytes] = []
                resent = False
                size = 0
                while position < len(rows) and len(seqs) < max_records:
                    seq, raw_id, body, attempts = rows[position]
                    if len(body) > max_bytes:
                        self._reject_oversized(
                            kind, seq, UUID(bytes=raw_id), len(body), max_bytes, now
                        )
                        position += 1
                        continue
                    if seqs and size + len(body) + 1 > max_bytes:
                        break
                    seqs.append(seq)
                    ids.append(raw_id)
                    bodies.append(body)
                    resent = resent or attempts > 0
                    size += len(body) + 1
                    position += 1
                if not seqs:
                    break
                # The rows taken are exactly the ready, due rows in [first, last]:
                # they were read in seq order under this same write lock.
                self._database.execute_sql(
                    f"UPDATE {kind} SET state = {int(SyncState.PUBLISHED)}, message_id = ?, "
                    f"attempts = attempts + 1 WHERE {_UNSYNCED} AND state = {ready} "
                    "AND seq BETWEEN ? AND ? AND (next_attempt_at <= ? OR next_attempt_at > ?)",
                    (message_id.bytes, seqs[0], seqs[-1], now, now + max_delay_s),
                )
                batches.append(ClaimedBatch(kind, message_id, ids, bodies, resent))
        return batches

    def _reject_oversized(
        self, kind: RecordKind, seq: int, record_id: UUID, size: int, limit: int, now: float
    ) -> None:
        reason = f"record is {size} bytes, above the {limit}-byte message budget"
        log.error("record %s cannot be sent: %s; marked rejected", record_id, reason)
        table = self._tables.records(kind)
        table.update(state=SyncState.REJECTED, last_error=reason, synced_at=now).where(
            table.seq == seq
        ).execute()

    def apply_receipts(
        self,
        updates: Sequence[ReceiptUpdate],
        now: float,
        *,
        retry_left_out_at: float | None = None,
    ) -> ReceiptOutcome:
        """Mark stored ids ACKED and rejected ids REJECTED, all in one transaction; rows of
        the answered message that the receipt left out become sendable again at
        ``retry_left_out_at``."""
        acked = rejected = left_out = 0
        with self._database.atomic("IMMEDIATE"):
            for update in updates:
                kind = update.kind
                stored = update.stored
                if update.whole_message is not None and stored:
                    # The receipt names exactly the rows we sent in that message:
                    # mark them through the message index, not id by id.
                    cursor = self._database.execute_sql(
                        f"UPDATE {kind} SET state = {int(SyncState.ACKED)}, synced_at = ?, "
                        f"message_id = NULL WHERE {_IN_FLIGHT} AND message_id = ?",
                        (now, update.whole_message.bytes),
                    )
                    acked += cursor.rowcount
                    if cursor.rowcount == len(stored):
                        stored = []
                for chunk in _chunks(stored):
                    cursor = self._database.execute_sql(
                        f"UPDATE {kind} SET state = ?, synced_at = ?, message_id = NULL, "
                        f"last_error = NULL WHERE state < ? AND id IN ({_marks(len(chunk))})",
                        (
                            int(SyncState.ACKED),
                            now,
                            int(SyncState.ACKED),
                            *(i.bytes for i in chunk),
                        ),
                    )
                    acked += cursor.rowcount
                for record_id, reason in update.rejected:
                    cursor = self._database.execute_sql(
                        f"UPDATE {kind} SET state = ?, last_error = ?, synced_at = ? "
                        "WHERE id = ? AND state < ?",
                        (
                            int(SyncState.REJECTED),
                            reason[:500],
                            now,
                            record_id.bytes,
                            int(SyncState.ACKED),
                        ),
                    )
                    if cursor.rowcount:
                        rejected += 1
                        log.error(
                            "the cloud rejected %s %s: %s; it will not be sent again",
                            kind[:-1],
                            record_id,
                            reason,
                        )
                if update.for_message is not None:
                    cursor = self._database.execute_sql(
                        f"UPDATE {kind} SET state = {int(_READY[kind])}, message_id = NULL, "
                        f"next_attempt_at = ? WHERE {_IN_FLIGHT} AND message_id = ?",
                        (retry_left_out_at or now, update.for_message.bytes),
                    )
                    if cursor.rowcount:
                        left_out += cursor.rowcount
                        log.warning(
                            "the ingest answered a %s message without %d of its records; "
                            "they will be sent again",
                            kind,
                            cursor.rowcount,
                        )
        return ReceiptOutcome(acked, rejected, left_out)

    def requeue(
        self, kind: RecordKind, message_ids: Sequence[UUID], *, next_attempt_at: float = 0.0
    ) -> int:
        """Make the rows of unreceipted messages sendable again."""
        changed = 0
        with self._database.atomic("IMMEDIATE"):
            for chunk in _chunks(message_ids):
                cursor = self._database.execute_sql(
                    f"UPDATE {kind} SET state = ?, message_id = NULL, next_attempt_at = ? "
                    f"WHERE {_IN_FLIGHT} AND message_id IN ({_marks(len(chunk))})",
                    (int(_READY[kind]), next_attempt_at, *(i.bytes for i in chunk)),
                )
                changed += cursor.rowcount
        return changed

    def requeue_all_published(self) -> dict[str, int]:
        """At start-up: nothing is in flight any more, whatever the last run left."""
        counts: dict[str, int] = {}
        with self._database.atomic("IMMEDIATE"):
            for kind in KINDS:
                table = self._tables.records(kind)
                counts[kind] = (
                    table.update(state=_READY[kind], message_id=None)
                    .where(table.state == SyncState.PUBLISHED)
                    .execute()
                )
        return counts

    def reject(self, kind: RecordKind, ids: Iterable[UUID], reason: str, now: float) -> int:
        """Our own verdict (a corrupt row): never send these; the reason is kept and logged."""
        table = self._tables.records(kind)
        changed = 0
        with self._database.atomic("IMMEDIATE"):
            for chunk in _chunks(list(ids)):
                changed += (
                    table.update(state=SyncState.REJECTED, last_error=reason[:500], synced_at=now)
                    .where(table.id.in_(chunk) & (table.state < SyncState.ACKED))
                    .execute()
                )
        return changed

    def backlog(self, now: float) -> Backlog:
        counts: dict[str, int] = {}
        oldest: float | None = None
        for kind in KINDS:
            count, first_seq = self._database.execute_sql(
                f"SELECT count(*), min(seq) FROM {kind} WHERE {_UNSYNCED}"
            ).fetchone()
            counts[kind] = int(count or 0)
            if first_seq is not None:
                (created,) = self._database.execute_sql(
                    f"SELECT created_at FROM {kind} WHERE seq = ?", (first_seq,)
                ).fetchone()
                oldest = created if oldest is None else min(oldest, created)
        (clip_bytes,) = self._database.execute_sql(
            f"SELECT coalesce(sum(size_bytes), 0) FROM clips WHERE {_UNSYNCED}"
        ).fetchone()
        return Backlog(
            logs=counts["logs"],
            events=counts["events"],
            clips=counts["clips"],
            clip_bytes=int(clip_bytes or 0),
            oldest_unsynced_age_s=None if oldest is None else max(0.0, now - oldest),
        )

    def prune_synced(self, older_than: float, limit: int = 5000) -> int:
        """Delete acknowledged (or rejected) log and event rows synced before ``older_than``.

        Walks the oldest rows by seq (the rowid), so no index on sync time is
        needed and acknowledging a record writes one index entry less.
        """
        removed = 0
        with self._database.atomic("IMMEDIATE"):
            for kind in ("logs", "events"):
                cursor = self._database.execute_sql(
                    f"DELETE FROM {kind} WHERE seq IN (SELECT seq FROM {kind} "
                    f"WHERE state >= {int(SyncState.ACKED)} AND synced_at < ? ORDER BY seq LIMIT ?)",
                    (older_than, limit),
                )
                removed += cursor.rowcount
        return removed


def _marks(count: int) -> str:
    return ",".join("?" * count)


def _chunks(items: Sequence[UUID]) -> Iterable[Sequence[UUID]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
