"""Sends stored records over MQTT in batches and marks them synced on the ingest's receipts.

One thread, one loop: take what the link reported (receipts, PUBACKs,
connection changes), apply all receipts in one transaction, requeue messages
whose receipt is overdue, then top up the window of unreceipted messages from
SQLite. Memory holds only message ids; however long the backlog, the records
wait on disk. A database error (a full disk) is logged and the work kept for
the next turn; nothing here can end the loop but ``stop()``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from functools import partial
from uuid import UUID

from peewee import DatabaseError

from agent.buffer.errors import is_disk_full
from agent.buffer.outbox import KINDS, ClaimedBatch, ReceiptUpdate
from agent.buffer.store import LocalStore
from agent.clock import Clock, utc_from
from agent.ratelog import RateLimitedLog
from agent.sync.batches import ENVELOPE_BUDGET, KIND_CHANNEL, assemble, check, find_bad_rows
from agent.sync.config import SchemaCheck, SyncConfig
from agent.sync.downlink import Misaddressed, decode_for
from agent.sync.link_types import DeliveryOutcome, Link, LinkListener, PublishRequest
from agent.sync.window import InFlight, InFlightWindow
from protocol import Channel, ProtocolError, Receipt, RecordKind, new_id

__all__ = ["PublisherStats", "RecordPublisher"]

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 0.5
_MAX_EVENTS_PER_TURN = 1000


@dataclass(frozen=True, slots=True)
class _ReceiptEvent:
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class _OutcomeEvent:
    message_id: UUID
    kind: RecordKind
    outcome: DeliveryOutcome
    detail: str


@dataclass(frozen=True, slots=True)
class _ConnectionEvent:
    connected: bool
    session_present: bool = False


_Event = _ReceiptEvent | _OutcomeEvent | _ConnectionEvent


@dataclass
class PublisherStats:
    messages_sent: int = 0
    records_acked: int = 0
    records_rejected: int = 0
    resent_messages: int = 0
    corrupt_rows: int = 0


class RecordPublisher(LinkListener):
    def __init__(
        self,
        store: LocalStore,
        link: Link,
        config: SyncConfig,
        *,
        clock: Clock,
        max_retry_delay_s: float,
    ) -> None:
        self._store = store
        self._link = link
        self._config = config
        self._clock = clock
        self._max_retry_delay_s = max_retry_delay_s
        self._org = store.identity.org
        self._device_id = store.identity.device_id
        self._events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self._window = InFlightWindow(config.window_messages)
        self._receipts: list[ReceiptUpdate] = []  # decoded, not yet committed
        self._requeue: list[InFlight] = []  # to put back, not yet committed
        self._stop = threading.Event()
        self._drain_until: float | None = None
        self._last_tick = time.monotonic()
        self.stats = PublisherStats()
        self._db_log = RateLimitedLog(log)
        link.add_listener(self)

    # --- link thread: hand over, never block --------------------------------

    def on_connected(self, session_present: bool) -> None:
        self._events.put(_ConnectionEvent(True, session_present))

    def on_disconnected(self, reason: str) -> None:
        self._events.put(_ConnectionEvent(False))

    def on_message(self, channel: Channel, payload: bytes) -> None:
        if channel is not Channel.RECEIPTS:
            return
        try:
            receipt = decode_for(
                Receipt, payload, what="receipt", org=self._org, device_id=self._device_id
            )
        except Misaddressed as exc:
            log.error("ignored a %s", exc)
            return
        except ProtocolError as exc:
            log.error("ignored a receipt that does not decode: %s", exc)
            return
        self._events.put(_ReceiptEvent(receipt))

    def _on_outcome(
        self, message_id: UUID, kind: RecordKind, outcome: DeliveryOutcome, detail: str
    ) -> None:
        self._events.put(_OutcomeEvent(message_id, kind, outcome, detail))

    # --- the publisher's thread ----------------------------------------------

    def alive(self, within_s: float) -> bool:
        return time.monotonic() - self._last_tick < within_s

    @property
    def in_flight(self) -> int:
        return len(self._window)

    def stop(self, drain_s: float = 0.0) -> None:
        """Stop sending; keep taking receipts for up to ``drain_s`` while messages are out."""
        self._drain_until = time.monotonic() + drain_s
        self._stop.set()
        self._events.put(_ConnectionEvent(self._link.connected))  # wake the loop

    def run(self) -> None:
        self._store.relax_durability_for_this_thread()
        while True:
            self._last_tick = time.monotonic()
            self._take_events(_IDLE_WAIT_S)
            try:
                self._commit_pending()
                self._expire_overdue()
                if self._stop.is_set():
                    if not self._window or time.monotonic() >= (self._drain_until or 0):
                        return
                    continue
                if self._link.connected:
                    self._fill_window()
            except DatabaseError as exc:
                self._store.report_error(exc)
                reason = "the disk is full" if is_disk_full(exc) else str(exc)
                self._db_log.log(
                    logging.ERROR, "db", "sync: the store refused an update (%s); retrying", reason
                )
                self._stop.wait(1.0)
            else:
                self._db_log.clear("db")

    def _take_events(self, wait_s: float) -> None:
        try:
            event = self._events.get(timeout=wait_s)
        except queue.Empty:
            return
        for _ in range(_MAX_EVENTS_PER_TURN):
            self._handle(event)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return

    def _handle(self, event: _Event) -> None:
        now = time.monotonic()
        if isinstance(event, _ReceiptEvent):
            receipt = event.receipt
            sent = self._window.remove(receipt.for_message_id)
            whole = (
                sent is not None
                and not receipt.rejected
                and sent.kind == receipt.kind
                and len(receipt.stored) == len(sent.raw_ids)
                and {i.bytes for i in receipt.stored} == sent.raw_ids
            )
            self._receipts.append(
                ReceiptUpdate(
                    receipt.kind,
                    list(receipt.stored),
                    [(rejection.id, rejection.reason) for rejection in receipt.rejected],
                    whole_message=receipt.for_message_id if whole else None,
                    for_message=receipt.for_message_id,
                )
            )
        elif isinstance(event, _OutcomeEvent):
            if event.outcome is DeliveryOutcome.DELIVERED:
                self._window.delivered(event.message_id, now)
            else:
                message = self._window.remove(event.message_id)
                if message is not None:
                    log.warning(
                        "a %s batch was not delivered (%s: %s); it will be sent again",
                        event.kind,
                        event.outcome.value,
                        event.detail,
                    )
                    self._requeue.append(message)
        elif event.connected and not event.session_present:
            # The broker has no session for us: receipts queued there are gone.
            lost = self._window.expire_delivered()
            if lost:
                log.info("broker session was lost; sending %d messages again", len(lost))
            self._requeue.extend(lost)

    def _commit_pending(self) -> None:
        if self._receipts:
            now = self._clock.time()
            outcome = self._store.outbox.apply_receipts(
                self._receipts, now, retry_left_out_at=now + self._config.receipt_timeout_s
            )
            self._receipts.clear()
            self.stats.records_acked += outcome.acked
            self.stats.records_rejected += outcome.rejected
        if self._requeue:
            for kind in KINDS:
                ids = [m.message_id for m in self._requeue if m.kind == kind]
                if ids:
                    self._store.outbox.requeue(kind, ids)
            self.stats.resent_messages += len(self._requeue)
            self._requeue.clear()

    def _expire_overdue(self) -> None:
        overdue = self._window.expired(time.monotonic(), self._config.receipt_timeout_s)
        if overdue:
            log.info(
                "no receipt within %.0f s for %d message(s); sending them again",
                self._config.receipt_timeout_s,
                len(overdue),
            )
            self._requeue.extend(overdue)
            self._commit_pending()

    def _fill_window(self) -> None:
        for kind in KINDS:
            free = self._window.free_slots(kind)
            if free == 0:
                continue
            batches = self._store.outbox.claim(
                kind,
                [new_id() for _ in range(free)],
                max_records=self._config.batch_max_records,
                max_bytes=self._config.batch_max_bytes - ENVELOPE_BUDGET,
                now=self._clock.time(),
                max_delay_s=self._max_retry_delay_s,
            )
            for batch in batches:
                payload = assemble(
                    batch, org=self._org, device_id=self._device_id, sent_at=utc_from(self._clock)
                )
                if not self._payload_ok(batch, payload):
                    continue
                self._window.add(
                    InFlight(batch.message_id, kind, frozenset(batch.raw_ids), time.monotonic())
                )
                self._link.publish(
                    PublishRequest(
                        KIND_CHANNEL[kind],
                        payload,
                        qos=1,
                        on_outcome=partial(self._on_outcome, batch.message_id, kind),
                    )
                )
                self.stats.messages_sent += 1

    def _payload_ok(self, batch: ClaimedBatch, payload: bytes) -> bool:
        full = batch.resent or self._config.schema_check is SchemaCheck.ALWAYS
        problem = check(batch.kind, payload, full=full)
        if problem is None:
            return True
        bad = find_bad_rows(batch, org=self._org, device_id=self._device_id)
        now = self._clock.time()
        for row in bad:
            log.error(
                "%s record %s cannot be sent: %s; marked rejected", batch.kind, row.id, row.reason
            )
            self._store.outbox.reject(batch.kind, [row.id], row.reason, now)
        self.stats.corrupt_rows += len(bad)
        if not bad:
            log.error("a %s batch failed the protocol check as a whole: %s", batch.kind, problem)
            self._store.outbox.requeue(
                batch.kind, [batch.message_id], next_attempt_at=now + self._max_retry_delay_s / 10
            )
            return False
        self._store.outbox.requeue(batch.kind, [batch.message_id])
        return False
