"""Webhook subscriptions (admins): events out, signed; health, delivery log, replay."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import AdminScope, DatabaseDep, org_scope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.webhooks import (
    DeliveriesPublic,
    DeliveryDetail,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhooksPublic,
    WebhookUpdate,
)
from cloud.api.services import webhooks as service
from cloud.models import OutboxMessage, OutboxStatus, WebhookSubscription

router = APIRouter(prefix="/webhooks", route_class=DocumentedRoute, tags=["webhooks"])


def webhook_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], webhook_id: Annotated[UUID, Path()]
) -> WebhookSubscription:
    return service.get_webhook(scope=scope, webhook_id=webhook_id)


WebhookInOrg = Annotated[WebhookSubscription, Depends(webhook_in_org)]


def delivery_of(
    scope: Annotated[OrgScope, Depends(org_scope)],
    webhook: WebhookInOrg,
    delivery_id: Annotated[UUID, Path()],
) -> OutboxMessage:
    return service.get_delivery(scope=scope, webhook=webhook, delivery_id=delivery_id)


DeliveryOf = Annotated[OutboxMessage, Depends(delivery_of)]


@router.get("")
def list_webhooks(scope: AdminScope) -> WebhooksPublic:
    rows = service.list_webhooks(scope=scope)
    return WebhooksPublic(data=[service.webhook_public(row) for row in rows], count=len(rows))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(scope: AdminScope, db: DatabaseDep, data: WebhookCreate) -> WebhookCreated:
    """Subscribe a URL to some of the organisation's events. The secret is shown once."""
    row = service.create_webhook(db, scope=scope, data=data)
    return WebhookCreated(**service.webhook_public(row).model_dump(), secret=row.secret)


@router.get("/{webhook_id}")
def read_webhook(scope: AdminScope, webhook: WebhookInOrg) -> WebhookPublic:
    """The subscription and its health: last attempt, failing since, pending, failed."""
    return service.webhook_public(webhook)


@router.patch("/{webhook_id}")
def update_webhook(
    scope: AdminScope, db: DatabaseDep, webhook: WebhookInOrg, data: WebhookUpdate
) -> WebhookPublic:
    """Change it; ``enabled: false`` pauses deliveries (kept), ``true`` sends them."""
    return service.webhook_public(
        service.update_webhook(db, scope=scope, webhook=webhook, data=data)
    )


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(scope: AdminScope, db: DatabaseDep, webhook: WebhookInOrg) -> None:
    service.delete_webhook(db, scope=scope, webhook=webhook)


@router.post("/{webhook_id}/rotate-secret")
def rotate_secret(scope: AdminScope, db: DatabaseDep, webhook: WebhookInOrg) -> WebhookCreated:
    """A new secret (shown once); deliveries from now on are signed with it."""
    secret = service.rotate_secret(db, scope=scope, webhook=webhook)
    fresh = service.get_webhook(scope=scope, webhook_id=webhook.id)
    return WebhookCreated(**service.webhook_public(fresh).model_dump(), secret=secret)


@router.post("/{webhook_id}/ping", status_code=status.HTTP_202_ACCEPTED)
def ping(scope: AdminScope, db: DatabaseDep, webhook: WebhookInOrg) -> dict[str, UUID]:
    """Send a ``webhook.ping`` event to this subscription (see its delivery log)."""
    return {"event_id": service.ping(db, scope=scope, webhook=webhook)}


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    scope: AdminScope,
    webhook: WebhookInOrg,
    status_: Annotated[OutboxStatus | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveriesPublic:
    """The delivery log, newest first: status, attempts, the last status code and error."""
    rows, next_cursor = service.list_deliveries(
        scope=scope, webhook=webhook, status=status_, cursor=cursor, limit=limit
    )
    return DeliveriesPublic(
        data=[service.delivery_public(row) for row in rows],
        count=len(rows),
        next_cursor=next_cursor,
    )


@router.get("/{webhook_id}/deliveries/{delivery_id}")
def read_delivery(scope: AdminScope, delivery: DeliveryOf) -> DeliveryDetail:
    """One delivery with its payload and every attempt."""
    return service.delivery_detail(delivery)


@router.post("/{webhook_id}/deliveries/{delivery_id}/replay", status_code=status.HTTP_202_ACCEPTED)
def replay_delivery(
    scope: AdminScope, db: DatabaseDep, webhook: WebhookInOrg, delivery: DeliveryOf
) -> DeliveryDetail:
    """Send it again now (same ``webhook-id``), retried for another day if it fails."""
    return service.delivery_detail(
        service.replay_delivery(db, scope=scope, webhook=webhook, delivery=delivery)
    )
