"""Clip verification: a clip becomes visible only once its object is in the store.

A clip record is stored ``pending``. The verifier looks its object up (exists,
size, SHA-256); a match makes it ``ready`` and sends the device its receipt. A
missing or different object is checked again with a doubling delay, and after
``give_up_after_s`` the clip is marked ``failed`` with the reason and the device
gets a rejection — never silently dropped. An unreachable store proves nothing,
so it only postpones the check.

Receipts for clips wait for this on purpose: the box may delete its copy of a
clip once receipted, so a receipt must mean "the cloud has the video", not just
"the cloud has the record". Several workers may verify at once: each claims a
clip by moving its ``next_verify_at`` with a conditional update first.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from peewee import Database, DatabaseError

from cloud.db import write_transaction
from cloud.ingest.config import ClipVerifyConfig
from cloud.ingest.metrics import CLIP_VERIFICATIONS
from cloud.models import Clip, ClipStatus, DeviceStatus, Organisation, utc_now
from cloud.object_store import ObjectStore, ObjectStoreUnavailable
from cloud.tagging import promote_replacement
from cloud.webhooks import EventType, emit
from cloud.webhooks.payloads import clip_data
from protocol import Receipt, Rejection

__all__ = ["ClipVerifier"]

log = logging.getLogger(__name__)

_LEASE = timedelta(seconds=120)  # a claimed clip is left to its claimer this long


class ReceiptSender(Protocol):
    def __call__(self, receipt: Receipt, *, received_at: datetime | None = None) -> None: ...


def _clock_of(clip: Clip) -> dict[str, float]:
    """The device's clock as its latest heartbeat showed it, recorded with the clip so
    that a misaligned box is visible beside its clips (the box's own offset, when the
    clip record did not carry one; the skew against the cloud's clock always)."""
    status = DeviceStatus.get_or_none(DeviceStatus.device == clip.device_id)
    if status is None:
        return {}
    found: dict[str, float] = {}
    if clip.clock_offset_ms is None and status.clock_offset_ms is not None:
        found["clock_offset_ms"] = status.clock_offset_ms
    if status.clock_skew_ms is not None:
        found["clock_skew_ms"] = status.clock_skew_ms
    return found


@dataclass(slots=True)
class _Answer:
    """What one receipt will say: the verified and the failed clips of one message."""

    stored: list[UUID] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    received_at: datetime | None = None  # the message's (its clips arrived together)


class ClipVerifier:
    def __init__(
        self,
        database: Database,
        store: ObjectStore,
        config: ClipVerifyConfig,
        send_receipt: ReceiptSender,
    ) -> None:
        self.database = database
        self.store = store
        self.config = config
        self.send_receipt = send_receipt
        self.wake = threading.Event()
        self.verified = 0
        self.failed = 0

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    checked = self.verify_due()
                except DatabaseError as exc:
                    log.warning("clip verification paused: database error: %s", exc)
                    self._close_quietly()
                    checked = 0
                if not checked:
                    self.wake.wait(0.5)
                    self.wake.clear()
        finally:
            self._close_quietly()  # this thread's connection

    def verify_due(self, now: datetime | None = None) -> int:
        """Check the clips that are due; returns how many were checked."""
        now = now or utc_now()
        due = list(
            Clip.select(Clip, Organisation.id, Organisation.slug)
            .join(Organisation)
            .where((Clip.status == ClipStatus.PENDING) & (Clip.next_verify_at <= now))
            .order_by(Clip.next_verify_at)
            .limit(self.config.batch)
        )
        answers: dict[tuple[str, str, UUID], _Answer] = {}
        checked = 0
        for clip in due:
            if not self._claim(clip, now):
                continue
            checked += 1
            status, reason = self._verify(clip, now)
            answer = answers.setdefault(
                (clip.org.slug, clip.device_id, clip.message_id or clip.id),
                _Answer(received_at=clip.received_at),
            )
            if status is ClipStatus.READY:
                answer.stored.append(clip.id)
            elif status is ClipStatus.FAILED:
                answer.rejected.append(Rejection(id=clip.id, reason=reason[:500]))
        for (org, device_id, message_id), answer in answers.items():
            if answer.stored or answer.rejected:
                self.send_receipt(
                    Receipt(
                        org=org,
                        device_id=device_id,
                        kind="clips",
                        for_message_id=message_id,
                        stored=answer.stored,
                        rejected=answer.rejected,
                    ),
                    received_at=answer.received_at,
                )
        return checked

    def _claim(self, clip: Clip, now: datetime) -> bool:
        claimed = (
            Clip.update(next_verify_at=now + _LEASE)
            .where(
                (Clip.id == clip.id)
                & (Clip.status == ClipStatus.PENDING)
                & (Clip.next_verify_at == clip.next_verify_at)
            )
            .execute()
        )
        return bool(claimed)

    def _verify(self, clip: Clip, now: datetime) -> tuple[ClipStatus, str]:
        try:
            problem = self._problem_with(clip)
        except ObjectStoreUnavailable as exc:
            log.warning("clip %s: object store unavailable, will retry: %s", clip.id, exc)
            CLIP_VERIFICATIONS.labels("store_unavailable").inc()
            Clip.update(next_verify_at=now + timedelta(seconds=self.config.max_delay_s)).where(
                Clip.id == clip.id
            ).execute()
            return ClipStatus.PENDING, str(exc)
        if problem is None:
            with write_transaction():
                Clip.update(
                    status=ClipStatus.READY,
                    verified_at=now,
                    failure_reason=None,
                    next_verify_at=None,
                    **_clock_of(clip),
                ).where(Clip.id == clip.id).execute()
                promote_replacement(clip)  # a re-trim takes its clip's place once playable
                # Announced with the change; the API's outbox worker sends it.
                emit(clip.org.id, EventType.CLIP_READY, clip_data(clip))
            self.verified += 1
            CLIP_VERIFICATIONS.labels("ready").inc()
            return ClipStatus.READY, ""

        attempts = clip.verify_attempts + 1
        waited = (now - clip.received_at).total_seconds()
        if waited >= self.config.give_up_after_s:
            reason = f"{problem} (checked {attempts} times over {waited:.0f} s)"
            Clip.update(
                status=ClipStatus.FAILED,
                failure_reason=reason[:1000],
                verify_attempts=attempts,
                next_verify_at=None,
            ).where(Clip.id == clip.id).execute()
            self.failed += 1
            CLIP_VERIFICATIONS.labels("failed").inc()
            log.warning("clip %s failed verification: %s", clip.id, reason)
            return ClipStatus.FAILED, reason
        delay = min(self.config.max_delay_s, self.config.first_delay_s * 2 ** (attempts - 1))
        Clip.update(
            verify_attempts=attempts,
            failure_reason=problem[:1000],
            next_verify_at=now + timedelta(seconds=delay),
        ).where(Clip.id == clip.id).execute()
        CLIP_VERIFICATIONS.labels("retry").inc()
        return ClipStatus.PENDING, problem

    def _problem_with(self, clip: Clip) -> str | None:
        found = self.store.head(clip.object_key)
        if found is None:
            return f"object {clip.object_key!r} not found"
        if found.size != clip.size_bytes:
            return f"object size is {found.size} bytes; the record says {clip.size_bytes}"
        sha256 = found.sha256
        if sha256 is None:
            if found.size > self.config.download_limit_bytes:
                log.warning("clip %s: no checksum and too large to hash; size only", clip.id)
                return None
            sha256 = self.store.sha256_of(clip.object_key)
        if sha256 != clip.sha256:
            return f"object SHA-256 is {sha256}; the record says {clip.sha256}"
        return None

    def _close_quietly(self) -> None:
        try:
            self.database.close()
        except DatabaseError:
            pass
