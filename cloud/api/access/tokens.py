"""API tokens: minted here, shown once, stored only as a SHA-256.

A token is ``sl_`` plus 43 URL-safe characters (32 random bytes). Tokens are
long random strings, so a plain SHA-256 is enough to make a leaked table useless
while still allowing one indexed lookup per request (a slow password hash would
cost every request tens of milliseconds).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

__all__ = ["TOKEN_PREFIX", "MintedToken", "hash_token", "looks_like_token", "mint_token"]

TOKEN_PREFIX = "sl_"
_DISPLAY_LENGTH = 10  # "sl_" + 7 characters: enough to tell tokens apart in a list


@dataclass(frozen=True)
class MintedToken:
    secret: str  # the whole token: shown to its owner once, never stored
    token_hash: str
    display_prefix: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint_token() -> MintedToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return MintedToken(secret, hash_token(secret), secret[:_DISPLAY_LENGTH])


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 20 <= len(value) <= 128
