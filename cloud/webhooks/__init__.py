"""Webhooks: an organisation's subscriptions get its events, signed the Standard
Webhooks way, through the outbox (written with the change, sent after commit,
retried for a day, logged, replayable). docs/outbox.md."""

from cloud.webhooks.events import EVENT_TYPES, WEBHOOK, EventType, emit
from cloud.webhooks.sender import WebhookSender, new_secret, signature_headers

__all__ = [
    "EVENT_TYPES",
    "WEBHOOK",
    "EventType",
    "WebhookSender",
    "emit",
    "new_secret",
    "signature_headers",
]
