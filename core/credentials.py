"""Credentials written on one side and checked on another.

The cloud registers a box by writing its MQTT password hash into Mosquitto's
password file and its S3 identity into the object store; the local service
launchers (``sideline.services``) write the same forms for the demo and the
tests. Both need the same two shapes, so they live here.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

__all__ = ["S3Identity", "hash_password"]

_PBKDF2_ITERATIONS = 101  # Mosquitto's own default for $7$


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = _PBKDF2_ITERATIONS
) -> str:
    """A Mosquitto ``$7$`` password hash (PBKDF2-HMAC-SHA512), as ``mosquitto_passwd`` writes."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class S3Identity:
    """An S3 key pair and what it may do, in SeaweedFS's identity form.

    An action such as ``Write:clips/org1/dev1/*`` lets the key write only under
    ``org1/dev1/`` of the ``clips`` bucket: that is how each box gets its own prefix.
    """

    name: str
    access_key: str
    secret_key: str
    actions: list[str] = field(
        default_factory=lambda: ["Admin", "Read", "Write", "List", "Tagging"]
    )

    def as_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": list(self.actions),
        }
