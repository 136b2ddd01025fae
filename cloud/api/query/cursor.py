"""Keyset (cursor) pagination over ``(time, id)``.

A cursor is the sort key of the last item a page returned, plus what the
listing was sorted by, encoded as opaque URL-safe text. The next page asks for
rows strictly after that key, so an item is never returned twice and an item
that existed when the listing passed its position is never skipped, however
many rows arrive meanwhile (unlike ``OFFSET``, which shifts when rows are
inserted before it). Ties on time are broken by id, which every table has and
which compares the same way on PostgreSQL (``uuid``) and SQLite (hex text).

Every listing pages through :func:`paginate`: it decodes the cursor, asks its
``fetch`` for one row more than the page, and makes the next cursor from the
page's last row. :func:`keyset` is the ``fetch`` of a peewee query.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from peewee import Expression, Field

from cloud.errors import FieldProblem, InvalidInput

__all__ = [
    "Cursor",
    "Order",
    "after",
    "after_key",
    "decode_cursor",
    "encode_cursor",
    "keyset",
    "order_by",
    "paginate",
]

R = TypeVar("R")


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
    """Rows strictly after ``cursor`` in ``order``."""
    return after_key(time_field, id_field, cursor.at, cursor.id, order)


def after_key(time_field: Field, id_field: Field, at: Any, ident: Any, order: Order) -> Expression:
    """Rows strictly after the key ``(at, ident)`` (values, or a prepared query's markers).

    Written as ``t >= c AND (t > c OR id > c_id)`` (not a row-value comparison)
    so that both databases convert the parameters through the fields and use
    the ``(…, time, id)`` index for the range, filtering only the ties.
    """
    condition: Expression
    if order is Order.ASC:
        condition = (time_field >= at) & ((time_field > at) | (id_field > ident))
    else:
        condition = (time_field <= at) & ((time_field < at) | (id_field < ident))
    return condition


def order_by(time_field: Field, id_field: Field, order: Order) -> tuple[Any, Any]:
    if order is Order.ASC:
        return time_field.asc(), id_field.asc()
    return time_field.desc(), id_field.desc()


def paginate(
    fetch: Callable[[Cursor | None, int], Sequence[R]],
    *,
    listing: str,
    cursor: str | None,
    limit: int,
    key: Callable[[R], tuple[datetime, Any]],
) -> tuple[list[R], str | None]:
    """One page of a keyset listing and the cursor of the next page (None: the last).

    ``fetch(position, n)`` returns at most ``n`` rows strictly after ``position``
    (None: from the start), in the listing's order; ``key(row)`` is a row's
    ``(time, id)``. ``listing`` names the listing and its order (``"logs:asc"``),
    so a cursor cannot be replayed against another one.
    """
    position = decode_cursor(cursor, listing=listing) if cursor is not None else None
    rows = list(fetch(position, limit + 1))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    at, ident = key(rows[-1])
    return rows, encode_cursor(
        Cursor(at, ident if isinstance(ident, UUID) else UUID(str(ident)), listing)
    )


def keyset(
    query: Any, time_field: Field, id_field: Field, order: Order
) -> Callable[[Cursor | None, int], list[Any]]:
    """The ``fetch`` of :func:`paginate` for a peewee select: its rows after a position,
    in ``(time, id)`` order."""

    def fetch(position: Cursor | None, count: int) -> list[Any]:
        page = query
        if position is not None:
            page = page.where(after(time_field, id_field, position, order))
        return list(page.order_by(*order_by(time_field, id_field, order)).limit(count))

    return fetch
