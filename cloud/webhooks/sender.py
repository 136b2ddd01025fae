"""Sending a webhook: the outbox handler of kind ``webhook``.

Signed as Standard Webhooks says (the ``standardwebhooks`` package): headers
``webhook-id`` (the message's id, the same on every retry and replay),
``webhook-timestamp`` (this attempt's Unix seconds) and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under the
subscription's secret). A 2xx answer delivers it; anything else, or no answer
within the timeout, is retried by the outbox. Redirects are not followed.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime

import httpx
from standardwebhooks import Webhook

from cloud.models import OutboxMessage, WebhookSubscription, utc_now
from cloud.outbox import Delivery

__all__ = ["WebhookSender", "body_of", "new_secret", "signature_headers"]

_EXCERPT = 500


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def body_of(message: OutboxMessage) -> bytes:
    """The bytes sent (and signed): the payload as compact JSON, keys in order."""
    return json.dumps(message.payload, separators=(",", ":"), sort_keys=True).encode()


def signature_headers(secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


class WebhookSender:
    def __init__(self, client: httpx.Client | None = None, *, timeout_s: float = 10.0) -> None:
        self.client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)

    def __call__(self, message: OutboxMessage) -> Delivery:
        subscription = WebhookSubscription.get_or_none(WebhookSubscription.id == message.target)
        if subscription is None or subscription.deleted_at is not None:
            return Delivery(ok=False, error="the subscription was deleted", retry=False)
        if not subscription.enabled:
            return Delivery(ok=False, held=True)  # paused by an admin: kept for later
        body = body_of(message)
        headers = {
            "content-type": "application/json",
            "user-agent": "Sideline-Webhooks/1",
            **signature_headers(subscription.secret, str(message.id), body, utc_now()),
        }
        try:
            response = self.client.post(subscription.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Delivery(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        excerpt = response.text[:_EXCERPT] if response.content else None
        ok = 200 <= response.status_code < 300
        return Delivery(
            ok=ok,
            status_code=response.status_code,
            error=None if ok else f"answered {response.status_code}",
            response_excerpt=excerpt,
        )

    def close(self) -> None:
        self.client.close()
