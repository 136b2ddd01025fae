"""Carrying messages out: claim the due ones, hand each to its kind's handler, log it.

Claims are leases (``locked_until``): a worker that dies mid-delivery lets its
messages come due again when the lease runs out, so a message is delivered at
least once (receivers deduplicate by its id). On PostgreSQL several workers
claim with ``FOR UPDATE SKIP LOCKED`` and never wait on each other; on SQLite
the claim is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from peewee import Database, fn

from cloud.db import is_postgres, write_transaction
from cloud.models import OutboxAttempt, OutboxMessage, OutboxStatus, utc_now
from cloud.outbox.backoff import DEFAULT_BACKOFF, Backoff
from cloud.outbox.metrics import ATTEMPTS, DURATION, MESSAGES
from cloud.outbox.store import woken

__all__ = ["Delivery", "Handler", "OutboxWorker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What a handler made of one try."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    response_excerpt: str | None = None
    retry: bool = True  # False: it can never succeed (the target is gone): dropped
    held: bool = False  # the target is paused: try again later, not counted as an attempt


class Handler(Protocol):
    def __call__(self, message: OutboxMessage) -> Delivery: ...


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        batch: int = 20,
        lease: timedelta = timedelta(minutes=2),
        backoff: Backoff = DEFAULT_BACKOFF,
        poll_s: float = 1.0,
        held_for: timedelta = timedelta(minutes=15),
        count_every_s: float = 30.0,
    ) -> None:
        self.database = database
        self.handlers = dict(handlers)
        self.worker_id = worker_id or f"outbox-{secrets.token_hex(4)}"
        self.batch = batch
        self.lease = lease
        self.backoff = backoff
        self.poll_s = poll_s
        self.held_for = held_for
        self.count_every_s = count_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round -------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        """Deliver what is due at ``now`` (default: the clock; tests pass a simulated
        one, and the attempts are then logged at it); returns how many were tried."""
        clock = now
        claimed = self._claim(clock or utc_now())
        for message in claimed:
            self._deliver(message, clock)
        return len(claimed)

    def _claim(self, now: datetime) -> list[OutboxMessage]:
        due = (
            OutboxMessage.select()
            .where(
                (OutboxMessage.status == OutboxStatus.PENDING)
                & (OutboxMessage.next_attempt_at <= now)
                & (OutboxMessage.locked_until.is_null() | (OutboxMessage.locked_until < now))
                & OutboxMessage.kind.in_(list(self.handlers))
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(self.batch)
        )
        with write_transaction(self.database):
            if is_postgres(self.database):
                due = due.for_update(skip_locked=True)
            messages = list(due)
            if messages:
                OutboxMessage.update(locked_until=now + self.lease, locked_by=self.worker_id).where(
                    OutboxMessage.id.in_([m.id for m in messages])
                ).execute()
        return messages

    def _deliver(self, message: OutboxMessage, now: datetime | None) -> None:
        handler = self.handlers[message.kind]
        started = time.perf_counter()
        try:
            delivery = handler(message)
        except Exception as exc:  # a handler's bug must not stop the others
            log.exception("outbox handler %r failed on %s", message.kind, message.id)
            delivery = Delivery(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        self._record(message, delivery, elapsed_ms, now or utc_now())

    def _record(
        self, message: OutboxMessage, delivery: Delivery, elapsed_ms: int, now: datetime
    ) -> None:
        changes: dict[str, object] = {"locked_until": None, "locked_by": None}
        result = "held"
        if delivery.held:
            changes["next_attempt_at"] = now + self.held_for
        else:
            DURATION.labels(message.kind).observe(elapsed_ms / 1000)
            attempts = message.attempts + 1
            changes.update(
                attempts=attempts,
                last_attempt_at=now,
                last_status_code=delivery.status_code,
                last_error=delivery.error,
            )
            if delivery.ok:
                changes.update(status=OutboxStatus.DELIVERED, delivered_at=now)
                result = "delivered"
            elif not delivery.retry:
                changes["status"] = OutboxStatus.DROPPED
                result = "dropped"
            else:
                later = now + self.backoff.delay(attempts)
                if later >= message.give_up_at:
                    changes["status"] = OutboxStatus.FAILED  # kept, visible, replayable
                    result = "failed"
                else:
                    changes["next_attempt_at"] = later
                    result = "retry"
        ATTEMPTS.labels(message.kind, result).inc()
        with write_transaction(self.database):
            if not delivery.held:
                OutboxAttempt.create(
                    message=message.id,
                    attempted_at=now,
                    duration_ms=elapsed_ms,
                    status_code=delivery.status_code,
                    error=delivery.error,
                    response_excerpt=delivery.response_excerpt,
                )
            # Only while it is still our claim (a replay meanwhile takes precedence).
            OutboxMessage.update(changes).where(
                (OutboxMessage.id == message.id) & (OutboxMessage.locked_by == self.worker_id)
            ).execute()

    # -- as a thread ---------------------------------------------------------------------

    def count_messages(self) -> dict[str, int]:
        """Pending and failed messages (the metrics' gauge), through the status index."""
        counts = {OutboxStatus.PENDING.value: 0, OutboxStatus.FAILED.value: 0}
        query: Any = (
            OutboxMessage.select(OutboxMessage.status, fn.COUNT(OutboxMessage.id))
            .where(OutboxMessage.status.in_(list(counts)))
            .group_by(OutboxMessage.status)
            .tuples()
        )
        for status, count in query:
            counts[str(status)] = int(count)
        for status, count in counts.items():
            MESSAGES.labels(status).set(count)
        return counts

    def run(self) -> None:
        counted_at = float("-inf")
        while not self._stop.is_set():
            try:
                busy = self.run_once() >= self.batch
                if time.monotonic() - counted_at >= self.count_every_s:
                    counted_at = time.monotonic()
                    self.count_messages()
            except Exception:  # the database may be away: try again at the next poll
                log.exception("an outbox round failed")
                busy = False
            if not busy:
                woken(self.poll_s)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.worker_id, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        from cloud.outbox.store import wake

        wake()
        if self._thread is not None:
            self._thread.join(30)
        self.database.close()
