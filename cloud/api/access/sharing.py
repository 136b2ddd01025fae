"""Share-link tokens: the link's id and expiry, signed with a key only the cloud holds.

A token is ``base64url(id (16 bytes) + expiry (4 bytes, Unix seconds)) "." +
base64url(HMAC-SHA256(key, those 20 bytes)[:16])``, 51 characters. A forged,
altered or truncated token fails the signature before the database is asked; an
expired one fails its own expiry; a genuine one is then looked up, so a revoked
link stops at once. The key is made once (``signing_key`` table, 32 random
bytes) and shared by every API process; deleting its row invalidates every link.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from uuid import UUID

from peewee import Database

from cloud.db import write_transaction
from cloud.errors import NotFound
from cloud.models import SigningKey

__all__ = ["ShareSigner", "SharedToken"]

_KEY_NAME = "share-links"
_MAC_BYTES = 16


@dataclass(frozen=True, slots=True)
class SharedToken:
    link_id: UUID
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ShareSigner:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                with write_transaction(self._database):
                    SigningKey.insert(
                        name=_KEY_NAME, secret=secrets.token_urlsafe(32)
                    ).on_conflict_ignore().execute()
                    row = SigningKey.get_by_id(_KEY_NAME)
                self._key = str(row.secret).encode()
            return self._key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret(), payload, sha256).digest()[:_MAC_BYTES]

    def token(self, link_id: UUID, expires_at: datetime) -> str:
        payload = link_id.bytes + struct.pack(">I", int(expires_at.timestamp()))
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def read(self, token: str, *, now: datetime) -> SharedToken:
        """The link a token names; NotFound (saying why) for anything else."""
        invalid = NotFound("share link", message="this share link is not valid; ask for a new one")
        if len(token) > 100 or token.count(".") != 1:
            raise invalid
        body, mac = token.split(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (ValueError, TypeError):
            raise invalid from None
        # One spelling per token: no padding, no other bits than the encoder's.
        if len(payload) != 20 or _b64(payload) != body or _b64(given) != mac:
            raise invalid
        if not hmac.compare_digest(given, self._mac(payload)):
            raise invalid
        (expiry,) = struct.unpack(">I", payload[16:])
        expires_at = datetime.fromtimestamp(expiry, UTC)
        if expires_at <= now:
            raise NotFound(
                "share link",
                message=f"this share link expired on {expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one",
            )
        return SharedToken(UUID(bytes=payload[:16]), expires_at)
