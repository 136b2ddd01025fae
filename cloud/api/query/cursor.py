"""Keyset (cursor) pagination over ``(time, id)``.

A cursor is the sort key of the last item a page returned, plus what the
listing was sorted by, encoded as opaque URL-safe text. The next page asks for
rows strictly after that key, so an item is never returned twice and an item
that existed when the listing passed its position is never skipped, however
many rows arrive meanwhile (unlike ``OFFSET``, which shifts when rows are
inserted before it). Ties on time are broken by id, which every table has and
which compares the same way on PostgreSQL (``uuid``) and SQLite (hex text).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from peewee import Expression, Field

from cloud.errors import FieldProblem, InvalidInput

__all__ = ["Cursor", "Order", "after", "decode_cursor", "encode_cursor", "order_by"]


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class Cursor:
    at: datetime
    id: UUID
    listing: str  # what the cursor was made for, e.g. "timeline:asc"


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps(
        {"t": cursor.at.isoformat(), "i": cursor.id.hex, "l": cursor.listing},
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, *, listing: str) -> Cursor:
    """Parse a cursor made by :func:`encode_cursor` for the same ``listing``."""
    try:
        padded = text + "=" * (-len(text) % 4)
        fields: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor = Cursor(datetime.fromisoformat(fields["t"]), UUID(hex=fields["i"]), fields["l"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _bad_cursor("is not a cursor this API returned") from None
    if cursor.at.tzinfo is None:
        raise _bad_cursor("is not a cursor this API returned")
    if cursor.listing != listing:
        raise _bad_cursor(
            f"was made for a {cursor.listing!r} listing, not {listing!r}; "
            "start again without a cursor when you change the order"
        )
    return cursor


def _bad_cursor(why: str) -> InvalidInput:
    message = f"cursor {why}"
    return InvalidInput(
        message, fields=[FieldProblem(path="query.cursor", code="bad_cursor", message=message)]
    )


def after(time_field: Field, id_field: Field, cursor: Cursor, order: Order) -> Expression:
    """Rows strictly after ``cursor`` in ``order``.

    Written as ``t >= c AND (t > c OR id > c_id)`` (not a row-value comparison)
    so that both databases convert the parameters through the fields and use
    the ``(…, time, id)`` index for the range, filtering only the ties.
    """
    if order is Order.ASC:
        return (time_field >= cursor.at) & ((time_field > cursor.at) | (id_field > cursor.id))
    return (time_field <= cursor.at) & ((time_field < cursor.at) | (id_field < cursor.id))


def order_by(time_field: Field, id_field: Field, order: Order) -> tuple[Any, Any]:
    if order is Order.ASC:
        return time_field.asc(), id_field.asc()
    return time_field.desc(), id_field.desc()
