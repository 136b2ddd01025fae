"""Writing messages (in the caller's transaction) and replaying them."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from uuid import UUID

from cloud.models import OutboxMessage, OutboxStatus, utc_now
from cloud.outbox.backoff import DEFAULT_BACKOFF, Backoff

__all__ = ["enqueue", "replay", "wake", "woken"]

_WAKE = threading.Event()


def enqueue(
    *,
    kind: str,
    target: str,
    payload: dict[str, Any],
    org_id: UUID | None = None,
    event_id: UUID | None = None,
    event_type: str | None = None,
    now: datetime | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> OutboxMessage:
    """Write a message. Call inside the transaction of the change it announces: it
    commits, or rolls back, with it."""
    now = now or utc_now()
    message: OutboxMessage = OutboxMessage.create(
        org=org_id,
        kind=kind,
        target=target,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        next_attempt_at=now,
        give_up_at=now + backoff.retry_for,
        created_at=now,
    )
    return message


def replay(
    message_id: UUID, *, now: datetime | None = None, backoff: Backoff = DEFAULT_BACKOFF
) -> OutboxMessage:
    """Send a message again, with the same id (the receiver's idempotency key), and
    retry it again for ``backoff.retry_for`` if it fails. Its attempts are kept."""
    now = now or utc_now()
    OutboxMessage.update(
        status=OutboxStatus.PENDING,
        next_attempt_at=now,
        give_up_at=now + backoff.retry_for,
        locked_until=None,
        locked_by=None,
        replayed_at=now,
    ).where(OutboxMessage.id == message_id).execute()
    wake()
    replayed: OutboxMessage = OutboxMessage.get_by_id(message_id)
    return replayed


def wake() -> None:
    """Tell this process's workers there may be something to send (after a commit)."""
    _WAKE.set()


def woken(timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for :func:`wake`; the workers' poll."""
    woke = _WAKE.wait(timeout_s)
    _WAKE.clear()
    return woke
