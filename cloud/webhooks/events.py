"""The events an organisation can subscribe to, and announcing one (in the change's
transaction): one outbox message per enabled subscription that wants it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from cloud.models import WebhookSubscription, utc_now
from cloud.outbox import enqueue
from protocol.ids import new_id

__all__ = ["EVENT_TYPES", "WEBHOOK", "EventType", "emit"]

WEBHOOK = "webhook"  # the outbox kind


class EventType(StrEnum):
    BOOKING_CREATED = "booking.created"
    BOOKING_CANCELLED = "booking.cancelled"
    BOOKING_RESCHEDULED = "booking.rescheduled"
    BOOKING_NO_SHOW = "booking.no_show"
    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    SESSION_CANCELLED = "session.cancelled"
    CLIP_READY = "clip.ready"
    ATTENDANCE_MARKED = "attendance.marked"
    PING = "webhook.ping"  # POST /webhooks/{id}/ping: to that subscription only


EVENT_TYPES = tuple(t.value for t in EventType if t is not EventType.PING)


def emit(
    org_id: UUID,
    event_type: EventType,
    data: dict[str, Any],
    *,
    now: datetime | None = None,
    only: UUID | None = None,
) -> UUID:
    """Announce an event: call inside the transaction of the change. Returns the
    event's id (the same in every subscription's payload). ``now`` is when it is
    announced (the payload's ``timestamp``, due at once); leave it to the clock."""
    now = now or utc_now()
    event_id = new_id()
    query = WebhookSubscription.select().where(
        (WebhookSubscription.org == org_id)
        & WebhookSubscription.enabled
        & WebhookSubscription.deleted_at.is_null()
    )
    if only is not None:
        query = query.where(WebhookSubscription.id == only)
    payload = {
        "type": event_type.value,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "event_id": str(event_id),
        "data": data,
    }
    for subscription in query:
        if only is None and event_type.value not in (subscription.event_types or []):
            continue
        enqueue(
            kind=WEBHOOK,
            target=str(subscription.id),
            payload=payload,
            org_id=org_id,
            event_id=event_id,
            event_type=event_type.value,
            now=now,
        )
    return event_id
