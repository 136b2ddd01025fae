"""Webhook subscriptions, their health, and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from cloud.api.schemas.common import Input, Output, PageInfo, StoredJson
from cloud.models import OutboxStatus

__all__ = [
    "AttemptPublic",
    "DeliveriesPublic",
    "DeliveryDetail",
    "DeliveryPublic",
    "EventName",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookHealth",
    "WebhookPublic",
    "WebhookUpdate",
    "WebhooksPublic",
]

EventName = Literal[
    "booking.created",
    "booking.cancelled",
    "booking.rescheduled",
    "booking.no_show",
    "session.started",
    "session.ended",
    "session.cancelled",
    "clip.ready",
    "attendance.marked",
]
Url = Field(max_length=2048, pattern=r"^https?://[^\s]+$", description="Where to POST events.")


class WebhookCreate(Input):
    url: str = Url
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventName] = Field(min_length=1, max_length=20)
    enabled: bool = True


class WebhookUpdate(Input):
    url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://[^\s]+$")
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventName] | None = Field(default=None, min_length=1, max_length=20)
    enabled: bool | None = Field(
        default=None, description="Only an admin turns a subscription off; failures never do."
    )


class WebhookHealth(Output):
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_delivered_at: datetime | None
    failing_since: datetime | None = Field(
        description="The first failed attempt since the last delivery, while it keeps failing."
    )
    pending: int = Field(description="Deliveries waiting to be (re)tried.")
    failed: int = Field(description="Deliveries that failed for a day; replay them.")


class WebhookPublic(Output):
    id: UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    health: WebhookHealth


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="Verify signatures with it (Standard Webhooks, 'whsec_…'). Shown once; "
        "POST …/rotate-secret makes a new one."
    )


class WebhooksPublic(Output):
    data: list[WebhookPublic]
    count: int


class DeliveryPublic(Output):
    id: UUID = Field(description="The webhook-id header: the same on every retry and replay.")
    event_id: UUID | None
    event_type: str | None
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    give_up_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    replayed_at: datetime | None


class AttemptPublic(Output):
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str | None


class DeliveryDetail(DeliveryPublic):
    payload: StoredJson
    tries: list[AttemptPublic]


class DeliveriesPublic(PageInfo):
    data: list[DeliveryPublic]
