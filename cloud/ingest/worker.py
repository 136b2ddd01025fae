"""The ingest's writer loop: group, write in one transaction, then ack and receipt.

Messages arrive decoded on a queue (paho's network thread decodes them). The
worker takes what is waiting — up to a message and record budget — writes it in
one transaction and, only after the commit, acknowledges each MQTT message (in
arrival order) and publishes the receipts. A worker that dies before the commit
has acknowledged nothing: the broker re-delivers, or the device re-sends when
no receipt comes; either way the insert is idempotent.

Database errors: a lost connection, a deadlock or a locked SQLite file is
transient — roll back, wait (doubling), try the same group again, acknowledging
nothing meanwhile. Anything else — a refusal by the database, or any exception
at all while handling the group — is about the data: the group is written again
with each record on its own savepoint, then each message alone; a message that
still fails becomes an ``internal_error`` dead letter (its whole payload, the
cause) with its records refused in the receipt, and is acknowledged. Whatever
one message does, the worker goes on.

A message the broker delivers again (MQTT's DUP flag: the worker that had it
stopped before acknowledging) is handled alone, with its start counted in the
database first (``IngestAttempt``). One that keeps stopping workers (killed,
hung, crashed in C) is set aside as a ``poison`` dead letter after
``poison_after_attempts`` starts, instead of taking the worker down again.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar

from peewee import DatabaseError, InterfaceError, OperationalError

from cloud.ingest import metrics
from cloud.ingest.config import IngestConfig
from cloud.ingest.decoding import Decoded, Inbound, Problem
from cloud.ingest.stats import IngestStats
from cloud.ingest.store import GroupResult, IngestStore
from cloud.models import utc_now
from core.logcontext import bind, log_fields, unbind
from protocol import Channel, Receipt, Rejection, Topic, encode

__all__ = ["BrokerLink", "IngestWorker"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSIENT = (OperationalError, InterfaceError)


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
        tags_stored: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.inbox = inbox
        self.link = link
        self.config = config
        self.prefix = prefix
        self.stats = stats or IngestStats()
        self.clips_stored = clips_stored or threading.Event()
        self.tags_stored = tags_stored or threading.Event()

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
        """Write, then ack and receipt; False when stopped before the commit.

        Re-delivered messages go one by one, each counted first (see the module)."""
        fresh = [decoded for decoded in group if not decoded.inbound.dup]
        if fresh and not self._process(fresh, stop):
            return False
        for decoded in group:
            if decoded.inbound.dup and not self._process_again(decoded, stop):
                return False
        return True

    def _process_again(self, decoded: Decoded, stop: threading.Event) -> bool:
        with log_fields(**_message_fields([decoded])):
            return self._process_again_logged(decoded, stop)

    def _process_again_logged(self, decoded: Decoded, stop: threading.Event) -> bool:
        digest = hashlib.sha256(
            decoded.inbound.topic.encode() + b"\0" + decoded.inbound.payload
        ).hexdigest()
        attempts = self._retrying(
            lambda: self.store.begin_attempt(digest, decoded.inbound.topic), stop
        )
        if attempts is None:
            return False
        limit = self.config.poison_after_attempts
        if attempts > limit:
            log.error(
                "a message on %s was delivered %d times and never finished; set aside",
                decoded.inbound.topic,
                attempts,
            )
            _set_aside(
                decoded,
                Problem(
                    "poison",
                    f"delivered {attempts} times; the {attempts - 1} earlier starts never "
                    "finished (the worker stopped inside it), so it is set aside",
                ),
            )
        return self._process([decoded], stop, finished=[digest])

    def _process(
        self, group: list[Decoded], stop: threading.Event, finished: list[str] | None = None
    ) -> bool:
        with log_fields(**_message_fields(group)):
            return self._process_logged(group, stop, finished)

    def _process_logged(
        self, group: list[Decoded], stop: threading.Event, finished: list[str] | None
    ) -> bool:
        started = time.perf_counter()
        result = self._write(group, stop, finished or [])
        if result is None:
            return False
        commit_s = time.perf_counter() - started
        metrics.observe_group(
            group,
            by_channel=result.by_channel,
            dead_letters=result.dead_letters,
            commit_s=commit_s,
            committed_at=utc_now(),
        )
        skipped = sum(0 if self.link.ack(decoded.inbound) else 1 for decoded in group)
        for decoded in group:
            if decoded.problem is not None:
                _log_dead_letter(decoded, decoded.problem)
        for decoded, receipt in result.receipts:
            try:
                self.send_receipt(receipt, received_at=decoded.inbound.received_at)
            except Exception:  # the box re-sends; the next receipt may go
                log.exception("could not publish a receipt to %s", receipt.device_id)
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
        if result.tags_to_request:
            self.tags_stored.set()
        return True

    def send_receipt(self, receipt: Receipt, *, received_at: datetime | None = None) -> None:
        """Publish ``receipt``; ``received_at``: when its message arrived (for the metrics)."""
        topic = Topic(self.prefix, receipt.org, receipt.device_id, Channel.RECEIPTS)
        self.link.publish(str(topic), encode(receipt), qos=1)
        self.stats.add(receipts_sent=1)
        metrics.observe_receipt(receipt.kind, received_at, utc_now())

    def _retrying(self, operation: Callable[[], T], stop: threading.Event) -> T | None:
        """``operation()``, retried while the database is unavailable; None if stopped."""
        delay = 0.5
        while not stop.is_set():
            try:
                return operation()
            except _TRANSIENT as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", exc, delay)
                self.stats.add(db_retries=1)
                metrics.DB_RETRIES.inc()
                self._reset_connection()
                stop.wait(delay)
                delay = min(delay * 2, 30.0)
        return None

    def _write(
        self, group: list[Decoded], stop: threading.Event, finished: list[str]
    ) -> GroupResult | None:
        try:
            return self._retrying(lambda: self.store.write(group, finished=finished), stop)
        except Exception as exc:  # whatever it is, it is about this group
            log.warning("could not write a group of %d messages (%r); isolating", len(group), exc)
        try:
            return self._retrying(
                lambda: self.store.write(group, isolate=True, finished=finished), stop
            )
        except Exception as exc:
            return self._write_alone(group, exc, stop, finished)

    def _write_alone(
        self, group: list[Decoded], error: Exception, stop: threading.Event, finished: list[str]
    ) -> GroupResult | None:
        """Last resort: each message by itself; one that still fails is kept whole as
        a dead letter, its records refused in the receipt, and it is acknowledged, so
        that it can neither block the queue nor come back."""
        log.error("a group failed even record by record (%r); writing messages alone", error)
        combined = GroupResult()
        for decoded in group:
            alone = [decoded]
            token = bind(**_message_fields(alone))
            try:
                result = self._retrying(
                    partial(self.store.write, alone, isolate=True, finished=finished), stop
                )
            except Exception as exc:  # this message's, whatever it is
                log.exception("a message on %s could not be handled", decoded.inbound.topic)
                code = "db_error" if isinstance(exc, DatabaseError) else "internal_error"
                _set_aside(
                    decoded,
                    Problem(code, f"handling it failed: {type(exc).__name__}: {exc}"[:4000]),
                )
                result = self._dead_letter_only(decoded, stop, finished)
            finally:
                unbind(token)
            if result is None:
                return None
            combined.absorb(result)
        return combined

    def _dead_letter_only(
        self, decoded: Decoded, stop: threading.Event, finished: list[str]
    ) -> GroupResult | None:
        try:
            return self._retrying(partial(self.store.write, [decoded], finished=finished), stop)
        except Exception:  # not even the dead letter: the log is all that is left
            log.exception(
                "could not keep a dead letter for a message on %s (%d bytes, first 2 KiB "
                "base64: %s); acknowledging it so that it cannot stop this worker",
                decoded.inbound.topic,
                len(decoded.inbound.payload),
                base64.b64encode(decoded.inbound.payload[:2048]).decode(),
            )
            return GroupResult()

    def _reset_connection(self) -> None:
        try:
            self.store.database.close()
        except DatabaseError:
            pass  # already gone


def _set_aside(decoded: Decoded, problem: Problem) -> None:
    """Make ``decoded`` a dead letter whose records (if any) are refused by id."""
    records = getattr(decoded.message, "records", None) or []
    reason = (
        f"{problem.code}: {problem.reason}"[:400]
        + "; the message is kept as a dead letter for an operator to replay"
    )
    refused = {rejection.id for rejection in decoded.rejected}
    decoded.rejected = [
        *decoded.rejected,
        *(Rejection(id=r.id, reason=reason[:500]) for r in records if r.id not in refused),
    ]
    decoded.message, decoded.problem = None, problem


def _log_dead_letter(decoded: Decoded, problem: Problem) -> None:
    """One line per dead letter, once it is committed, naming the message."""
    log.warning(
        "dead letter %s on %s: %s",
        problem.code,
        decoded.inbound.topic,
        problem.reason[:300],
        extra={
            "code": problem.code,
            "message_id": str(decoded.message_id) if decoded.message_id else None,
            "topic": decoded.inbound.topic,
            "payload_bytes": len(decoded.inbound.payload),
        },
    )


def _message_fields(group: list[Decoded]) -> dict[str, object]:
    """What each log line about ``group`` carries: its message ids (and, for one message,
    its topic), so that a line can be followed to the device's message and its dead letter."""
    ids = [str(d.message_id) for d in group if d.message_id is not None]
    if len(group) == 1:
        return {"message_id": ids[0] if ids else None, "topic": group[0].inbound.topic}
    return {"message_ids": ids[:20], "messages": len(group)}


def _record_count(decoded: Decoded) -> int:
    records = getattr(decoded.message, "records", None)
    return len(records) if records is not None else 1
