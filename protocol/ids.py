"""Identifiers on the wire.

Records are born on the device with a time-ordered UUIDv7; that id is the
idempotency key from the edge store to the cloud database. Organisation, device
and camera ids are *topic segments* and S3 key parts, so they are restricted to
characters that are safe in both.
"""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

import uuid6
from pydantic import UUID7, StringConstraints

__all__ = [
    "OBJECT_KEY_PATTERN",
    "SEGMENT_PATTERN",
    "ObjectKey",
    "RecordId",
    "Segment",
    "is_valid_object_key",
    "is_valid_segment",
    "new_id",
]

# Letters, digits, '_', '-' and '.'; starts with a letter or digit (so never '$',
# which MQTT reserves); at most 64 characters. This excludes '+', '#', '/', spaces
# and the empty string, which would break topic filters and object keys.
SEGMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SEGMENT_RE = re.compile(SEGMENT_PATTERN)

# An object key in normal form: '/'-separated parts of letters, digits, '_', '-'
# and '.', none empty and none starting with '.', so never '.', '..', a hidden
# name, '//', a leading or trailing '/', a space, '%' or a non-ASCII character.
# A key that passes names the same object to every S3 implementation and to a
# prefix check ('{org}/{device}/...'), with nothing left to normalise.
_KEY_PART = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}"
OBJECT_KEY_PATTERN = rf"^{_KEY_PART}(?:/{_KEY_PART})*$"
OBJECT_KEY_MAX_LENGTH = 512
_OBJECT_KEY_RE = re.compile(OBJECT_KEY_PATTERN)


def is_valid_segment(value: str) -> bool:
    """True when ``value`` may be used as an org, device or camera id."""
    return bool(_SEGMENT_RE.match(value))


def is_valid_object_key(value: str) -> bool:
    """True when ``value`` is an object key in normal form (see :data:`ObjectKey`)."""
    return len(value) <= OBJECT_KEY_MAX_LENGTH and bool(_OBJECT_KEY_RE.match(value))


def new_id() -> UUID:
    """A new UUIDv7: unique, and ordered by creation time to the millisecond."""
    return UUID(int=uuid6.uuid7().int)


Segment = Annotated[
    str,
    StringConstraints(pattern=SEGMENT_PATTERN),
]
"""An id that is safe as an MQTT topic level and an S3 key part."""

ObjectKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=OBJECT_KEY_MAX_LENGTH, pattern=OBJECT_KEY_PATTERN),
]
"""An S3 object key in normal form: no '..', no empty or dot parts, safe characters."""

RecordId = UUID7
"""A UUIDv7 minted where the record was born (checked by pydantic, natively)."""
