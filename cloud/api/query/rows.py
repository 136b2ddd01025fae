"""Reading a row's foreign-key value without loading the related row."""

from __future__ import annotations

from typing import Any

from peewee import Model

__all__ = ["fk_id"]


def fk_id(row: Model, field: str) -> Any:
    """The raw id stored in ``row``'s foreign key ``field`` (peewee's ``<field>_id``).

    Spelled out because the peewee stubs do not know the ``_id`` accessors, and
    ``row.<field>.id`` would query the related table.
    """
    return row.__data__.get(field)
