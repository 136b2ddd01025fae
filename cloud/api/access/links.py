"""Signed, expiring links that act on one thing without an account (a guest's booking).

A token is ``<payload>.<signature>``: the payload names the purpose, the thing's
id and the expiry (Unix seconds), base64url; the signature is HMAC-SHA256 of the
payload under ``api.secret_key`` with the purpose mixed into the key, so a token
made for one purpose opens nothing else. It carries no personal data and works
only until it expires; what it may do is checked again against the thing's state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from cloud.errors import Forbidden, NotFound

__all__ = ["LinkClaim", "sign_link", "verify_link"]


@dataclass(frozen=True)
class LinkClaim:
    purpose: str
    ident: UUID
    expires_at: datetime


def _key(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, f"sideline-link:{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_link(*, secret: bytes, purpose: str, ident: UUID, expires_at: datetime) -> str:
    payload = _b64(
        json.dumps(
            {"p": purpose, "i": ident.hex, "e": int(expires_at.timestamp())},
            separators=(",", ":"),
        ).encode()
    )
    signature = hmac.new(_key(secret, purpose), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(signature)}"


def verify_link(token: str, *, secret: bytes, purpose: str, now: datetime) -> LinkClaim:
    """The claim of a token made by :func:`sign_link` for ``purpose``; NotFound for
    anything else (so a guessed token learns nothing), Forbidden once it expired."""
    invalid = NotFound("link", message="this link is not valid; ask for a new one")
    payload, _, signature = token.partition(".")
    if not payload or not signature or len(token) > 512:
        raise invalid
    expected = hmac.new(_key(secret, purpose), payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
        fields = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        raise invalid from None
    if not hmac.compare_digest(expected, given):
        raise invalid
    try:
        claim = LinkClaim(
            purpose=str(fields["p"]),
            ident=UUID(hex=str(fields["i"])),
            expires_at=datetime.fromtimestamp(int(fields["e"]), UTC),
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        raise invalid from None
    if claim.purpose != purpose:
        raise invalid
    if now >= claim.expires_at:
        raise Forbidden("this link has expired", code="link_expired")
    return claim
