"""The side-effect outbox, and webhook subscriptions (one of its users).

An ``outbox_message`` is written in the same transaction as the change it
announces and carried out after that transaction committed, by a worker
(``cloud.outbox``): so a change is never announced without happening, nor
happens without being announced. ``outbox_attempt`` is its delivery log.
"""

from __future__ import annotations

from uuid import UUID

from peewee import (
    BooleanField,
    CharField,
    Check,
    ForeignKeyField,
    IntegerField,
    JSONField,
    TextField,
    UUIDField,
)

from cloud.models.accounts import Organisation, User
from cloud.models.base import BaseModel, StrEnumField, UtcDateTimeField, new_uuid_pk, utc_now
from cloud.models.enums import OutboxStatus

__all__ = ["OutboxAttempt", "OutboxMessage", "WebhookSubscription"]


class OutboxMessage(BaseModel):
    """One side effect to carry out: ``kind`` names the handler (``webhook``),
    ``target`` what it goes to (a subscription id), ``payload`` what it carries.

    ``id`` is stable for the message's whole life (retries and replays): a
    webhook's ``webhook-id``, the receiver's idempotency key.
    """

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, null=True, on_delete="CASCADE", index=False)
    org_id: UUID | None
    kind = CharField(max_length=64)
    target = CharField(max_length=200)
    event_id = UUIDField(null=True)  # one event may make a message per subscription
    event_type = CharField(max_length=64, null=True)
    payload = JSONField()
    status = StrEnumField(OutboxStatus, default=OutboxStatus.PENDING)
    attempts = IntegerField(default=0, constraints=[Check("attempts >= 0")])
    next_attempt_at = UtcDateTimeField(default=utc_now)
    give_up_at = UtcDateTimeField()  # retried until then, then failed (still replayable)
    locked_until = UtcDateTimeField(null=True)  # a worker's claim while it delivers
    locked_by = CharField(max_length=128, null=True)
    last_attempt_at = UtcDateTimeField(null=True)
    last_status_code = IntegerField(null=True)
    last_error = TextField(null=True)
    created_at = UtcDateTimeField(default=utc_now)
    delivered_at = UtcDateTimeField(null=True)
    replayed_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = (
            (("status", "next_attempt_at"), False),
            (("kind", "target", "created_at", "id"), False),
        )


class OutboxAttempt(BaseModel):
    """One try at a message: when, how long, what came back."""

    id = new_uuid_pk()
    message = ForeignKeyField(OutboxMessage, backref="tries", on_delete="CASCADE", index=False)
    message_id: UUID
    attempted_at = UtcDateTimeField(default=utc_now)
    duration_ms = IntegerField()
    status_code = IntegerField(null=True)  # empty: no answer (refused, timed out, ...)
    error = TextField(null=True)
    response_excerpt = TextField(null=True)  # the first 500 characters of the answer

    class Meta:
        indexes = ((("message", "attempted_at"), False),)


class WebhookSubscription(BaseModel):
    """Where an organisation's events go, signed the Standard Webhooks way.

    Only the organisation's admins turn one off (``enabled``); failures never
    do: they show in the delivery log and the subscription's health.
    """

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    org_id: UUID
    url = TextField()
    description = TextField(null=True)
    secret = TextField()  # "whsec_" + base64 of 24 random bytes
    event_types = JSONField()  # list of event type names
    enabled = BooleanField(default=True)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    created_by_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now)
    deleted_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("org", "created_at"), False),)
