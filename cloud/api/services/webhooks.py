"""Webhook subscriptions: manage them, see their health and deliveries, replay one.

Events reach subscriptions through the outbox (``cloud.webhooks``); a subscription
is only ever turned off by an admin (``enabled``), never by failures, which show in
its health and delivery log instead.
"""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from peewee import Database, fn

from cloud.api.access.scope import OrgScope
from cloud.api.query.cursor import Order, keyset, paginate
from cloud.api.schemas.webhooks import (
    AttemptPublic,
    DeliveryDetail,
    DeliveryPublic,
    WebhookCreate,
    WebhookHealth,
    WebhookPublic,
    WebhookUpdate,
)
from cloud.db import write_transaction
from cloud.errors import NotFound
from cloud.models import (
    OutboxAttempt,
    OutboxMessage,
    OutboxStatus,
    WebhookSubscription,
    utc_now,
)
from cloud.outbox import replay, wake
from cloud.webhooks import WEBHOOK, EventType, emit, new_secret

__all__ = [
    "create_webhook",
    "delete_webhook",
    "delivery_detail",
    "delivery_public",
    "get_delivery",
    "get_webhook",
    "list_deliveries",
    "list_webhooks",
    "ping",
    "replay_delivery",
    "rotate_secret",
    "update_webhook",
    "webhook_public",
]


def get_webhook(*, scope: OrgScope, webhook_id: UUID) -> WebhookSubscription:
    row = WebhookSubscription.get_or_none(
        (WebhookSubscription.id == webhook_id)
        & (WebhookSubscription.org == scope.org_id)
        & WebhookSubscription.deleted_at.is_null()
    )
    if row is None:
        raise NotFound("webhook", webhook_id)
    found: WebhookSubscription = row
    return found


def list_webhooks(*, scope: OrgScope) -> list[WebhookSubscription]:
    return list(
        WebhookSubscription.select()
        .where((WebhookSubscription.org == scope.org_id) & WebhookSubscription.deleted_at.is_null())
        .order_by(WebhookSubscription.created_at)
    )


def _messages(subscription: WebhookSubscription) -> Any:
    return (OutboxMessage.kind == WEBHOOK) & (OutboxMessage.target == str(subscription.id))


def health(subscription: WebhookSubscription) -> WebhookHealth:
    mine = _messages(subscription)
    last = (
        OutboxAttempt.select(OutboxAttempt)
        .join(OutboxMessage, on=(OutboxAttempt.message == OutboxMessage.id))
        .where(mine)
        .order_by(OutboxAttempt.attempted_at.desc())
        .first()
    )
    delivered_at = OutboxMessage.select(fn.MAX(OutboxMessage.delivered_at)).where(mine).scalar()
    delivered = OutboxMessage.delivered_at.python_value(delivered_at)
    failing_since = None
    if last is not None and not (last.status_code and 200 <= last.status_code < 300):
        since = (
            OutboxAttempt.select(fn.MIN(OutboxAttempt.attempted_at))
            .join(OutboxMessage, on=(OutboxAttempt.message == OutboxMessage.id))
            .where(mine & (OutboxAttempt.attempted_at > delivered) if delivered else mine)
            .scalar()
        )
        failing_since = OutboxAttempt.attempted_at.python_value(since)
    counts = dict(
        cast(
            Any,
            OutboxMessage.select(OutboxMessage.status, fn.COUNT(OutboxMessage.id))
            .where(mine & OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.FAILED]))
            .group_by(OutboxMessage.status)
            .tuples(),
        )
    )
    return WebhookHealth(
        last_attempt_at=last.attempted_at if last else None,
        last_status_code=last.status_code if last else None,
        last_error=last.error if last else None,
        last_delivered_at=delivered,
        failing_since=failing_since,
        pending=int(counts.get(OutboxStatus.PENDING.value, 0)),
        failed=int(counts.get(OutboxStatus.FAILED.value, 0)),
    )


def webhook_public(subscription: WebhookSubscription) -> WebhookPublic:
    return WebhookPublic(
        id=subscription.id,
        url=subscription.url,
        description=subscription.description,
        event_types=list(subscription.event_types or []),
        enabled=subscription.enabled,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
        health=health(subscription),
    )


def create_webhook(db: Database, *, scope: OrgScope, data: WebhookCreate) -> WebhookSubscription:
    with write_transaction(db):
        row: WebhookSubscription = WebhookSubscription.create(
            org=scope.org_id,
            url=data.url,
            description=data.description,
            secret=new_secret(),
            event_types=sorted(set(data.event_types)),
            enabled=data.enabled,
            created_by=scope.user_id,
        )
    return row


def update_webhook(
    db: Database, *, scope: OrgScope, webhook: WebhookSubscription, data: WebhookUpdate
) -> WebhookSubscription:
    changes = data.model_dump(exclude_unset=True)
    for name in ("url", "event_types", "enabled"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    if "event_types" in changes:
        changes["event_types"] = sorted(set(changes["event_types"]))
    with write_transaction(db):
        WebhookSubscription.update(**changes, updated_at=utc_now()).where(
            WebhookSubscription.id == webhook.id
        ).execute()
    if changes.get("enabled"):
        # Deliveries held while it was off are due now.
        OutboxMessage.update(next_attempt_at=utc_now()).where(
            _messages(webhook) & (OutboxMessage.status == OutboxStatus.PENDING)
        ).execute()
        wake()
    return get_webhook(scope=scope, webhook_id=webhook.id)


def rotate_secret(db: Database, *, scope: OrgScope, webhook: WebhookSubscription) -> str:
    secret = new_secret()
    with write_transaction(db):
        WebhookSubscription.update(secret=secret, updated_at=utc_now()).where(
            WebhookSubscription.id == webhook.id
        ).execute()
    return secret


def delete_webhook(db: Database, *, scope: OrgScope, webhook: WebhookSubscription) -> None:
    """Soft delete: no new deliveries; pending ones are dropped when they come due."""
    with write_transaction(db):
        WebhookSubscription.update(deleted_at=utc_now(), enabled=False).where(
            WebhookSubscription.id == webhook.id
        ).execute()


def ping(db: Database, *, scope: OrgScope, webhook: WebhookSubscription) -> UUID:
    """Send a ``webhook.ping`` to this subscription only (to test the receiver)."""
    with write_transaction(db):
        event_id = emit(
            scope.org_id,
            EventType.PING,
            {"webhook_id": str(webhook.id), "by": str(scope.user_id)},
            only=webhook.id,
        )
    wake()
    return event_id


def list_deliveries(
    *,
    scope: OrgScope,
    webhook: WebhookSubscription,
    status: OutboxStatus | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[OutboxMessage], str | None]:
    """The subscription's deliveries, newest first."""
    condition = _messages(webhook) & (OutboxMessage.org == scope.org_id)
    if status is not None:
        condition &= OutboxMessage.status == status
    return paginate(
        keyset(
            OutboxMessage.select().where(condition),
            OutboxMessage.created_at,
            OutboxMessage.id,
            Order.DESC,
        ),
        listing="deliveries:desc",
        cursor=cursor,
        limit=limit,
        key=lambda row: (row.created_at, row.id),
    )


def get_delivery(
    *, scope: OrgScope, webhook: WebhookSubscription, delivery_id: UUID
) -> OutboxMessage:
    row = OutboxMessage.get_or_none(
        (OutboxMessage.id == delivery_id) & _messages(webhook) & (OutboxMessage.org == scope.org_id)
    )
    if row is None:
        raise NotFound("delivery", delivery_id)
    found: OutboxMessage = row
    return found


def delivery_public(row: OutboxMessage) -> DeliveryPublic:
    return DeliveryPublic(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        give_up_at=row.give_up_at,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        replayed_at=row.replayed_at,
    )


def delivery_detail(row: OutboxMessage) -> DeliveryDetail:
    tries = (
        OutboxAttempt.select()
        .where(OutboxAttempt.message == row.id)
        .order_by(OutboxAttempt.attempted_at)
    )
    return DeliveryDetail(
        **delivery_public(row).model_dump(),
        payload=row.payload,
        tries=[
            AttemptPublic(
                attempted_at=attempt.attempted_at,
                duration_ms=attempt.duration_ms,
                status_code=attempt.status_code,
                error=attempt.error,
                response_excerpt=attempt.response_excerpt,
            )
            for attempt in tries
        ],
    )


def replay_delivery(
    db: Database, *, scope: OrgScope, webhook: WebhookSubscription, delivery: OutboxMessage
) -> OutboxMessage:
    """Send it again now, with the same ``webhook-id``, retried for another day."""
    with write_transaction(db):
        replayed = replay(delivery.id)
    return replayed
