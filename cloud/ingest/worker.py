"""The ingest's writer loop: group, write in one transaction, then ack and receipt.

Messages arrive decoded on a queue (paho's network thread decodes them). The
worker takes what is waiting — up to a message and record budget — writes it in
one transaction and, only after the commit, acknowledges each MQTT message (in
arrival order) and publishes the receipts. A worker that dies before the commit
has acknowledged nothing: the broker re-delivers, or the device re-sends when
no receipt comes; either way the insert is idempotent.

Database errors: a lost connection, a deadlock or a locked SQLite file is
transient — roll back, wait (doubling), try the same group again, acknowledging
nothing meanwhile. Anything else is about the data: the group is written again
with each record on its own savepoint, and records the database refuses are
rejected in the receipt and kept as dead letters of their message.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Protocol

from peewee import DatabaseError, InterfaceError, OperationalError

from cloud.ingest.config import IngestConfig
from cloud.ingest.decoding import Decoded, Inbound, Problem
from cloud.ingest.stats import IngestStats
from cloud.ingest.store import GroupResult, IngestStore
from protocol import Channel, Receipt, Topic, encode

__all__ = ["BrokerLink", "IngestWorker"]

log = logging.getLogger(__name__)

_TRANSIENT = (OperationalError, InterfaceError)
_PERMANENT = (DatabaseError, ValueError, TypeError)


class BrokerLink(Protocol):
    def ack(self, inbound: Inbound) -> bool:
        """Acknowledge to the broker; False when the message's connection is gone."""

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None: ...


class IngestWorker:
    def __init__(
        self,
        store: IngestStore,
        inbox: queue.Queue[Decoded],
        link: BrokerLink,
        config: IngestConfig,
        *,
        prefix: str,
        stats: IngestStats | None = None,
        clips_stored: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.inbox = inbox
        self.link = link
        self.config = config
        self.prefix = prefix
        self.stats = stats or IngestStats()
        self.clips_stored = clips_stored or threading.Event()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                group = self._take_group()
                if group:
                    self.process(group, stop)
        finally:
            self._reset_connection()  # this thread's connection (peewee keeps one per thread)

    def _take_group(self) -> list[Decoded]:
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        group, records = [first], _record_count(first)
        while (
            len(group) < self.config.max_messages_per_transaction
            and records < self.config.max_records_per_transaction
        ):
            try:
                decoded = self.inbox.get_nowait()
            except queue.Empty:
                break
            group.append(decoded)
            records += _record_count(decoded)
        return group

    def process(self, group: list[Decoded], stop: threading.Event) -> bool:
        """Write, then ack and receipt; False when stopped before the commit."""
        result = self._write(group, stop)
        if result is None:
            return False
        skipped = sum(0 if self.link.ack(decoded.inbound) else 1 for decoded in group)
        for _, receipt in result.receipts:
            self.send_receipt(receipt)
        self.stats.add(
            messages=len(group),
            transactions=1,
            records_inserted=result.inserted,
            records_duplicate=result.duplicates,
            records_rejected=result.rejected,
            acks_skipped=skipped,
        )
        self.stats.add_dead_letters(result.dead_letters)
        if result.clips_to_verify:
            self.clips_stored.set()
        return True

    def send_receipt(self, receipt: Receipt) -> None:
        topic = Topic(self.prefix, receipt.org, receipt.device_id, Channel.RECEIPTS)
        self.link.publish(str(topic), encode(receipt), qos=1)
        self.stats.add(receipts_sent=1)

    def _write(self, group: list[Decoded], stop: threading.Event) -> GroupResult | None:
        delay = 0.5
        isolate = False
        while not stop.is_set():
            try:
                return self.store.write(group, isolate=isolate)
            except _TRANSIENT as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", exc, delay)
                self.stats.add(db_retries=1)
                self._reset_connection()
                stop.wait(delay)
                delay = min(delay * 2, 30.0)
            except _PERMANENT as exc:
                if isolate:
                    return self._write_alone(group, exc)
                log.warning(
                    "database refused a group of %d messages (%s); isolating", len(group), exc
                )
                isolate = True
        return None

    def _write_alone(self, group: list[Decoded], error: Exception) -> GroupResult:
        """Last resort: each message by itself; one the database still refuses is
        kept only as a dead letter (and acknowledged, so it cannot block the queue)."""
        log.error("database refused records even one by one (%s); writing messages alone", error)
        combined = GroupResult()
        for decoded in group:
            try:
                result = self.store.write([decoded], isolate=True)
            except _PERMANENT as exc:
                decoded.message, decoded.rejected = None, []
                decoded.problem = Problem("db_error", f"the database refused it: {exc}"[:4000])
                result = self.store.write([decoded])
            combined.receipts.extend(result.receipts)
            combined.inserted += result.inserted
            combined.duplicates += result.duplicates
            combined.rejected += result.rejected
            combined.dead_letters.update(result.dead_letters)
            combined.clips_to_verify |= result.clips_to_verify
        return combined

    def _reset_connection(self) -> None:
        try:
            self.store.database.close()
        except DatabaseError:
            pass  # already gone


def _record_count(decoded: Decoded) -> int:
    records = getattr(decoded.message, "records", None)
    return len(records) if records is not None else 1
