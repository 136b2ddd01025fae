"""The free-form JSON a record carries (``data``): finite numbers, bounded depth.

JSON has no NaN or Infinity, yet parsers (pydantic-core's among them) accept
the tokens and a number too large for a double becomes ``inf``: kept, such a
value is stored as ``null`` by one database and refused by another, silently
changing what the device sent. A deeply nested value costs every reader
recursion (and past ~200 levels no parser here reads the message at all). Both
are refused when the record is validated, so the receipt names the record.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, JsonValue

__all__ = ["MAX_DATA_DEPTH", "JsonData", "check_json_data"]

MAX_DATA_DEPTH = 32
"""Levels of arrays and objects inside ``data`` (the object itself is level 1)."""


def check_json_data(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` unchanged, or ``ValueError`` naming the first non-finite number or
    the depth past :data:`MAX_DATA_DEPTH`."""
    if _sound(value, 1):  # the hot path: a quick walk; the slow one only explains
        return value
    raise ValueError(_first_problem(value))


def _sound(item: Any, depth: int) -> bool:
    # Recursion is bounded by MAX_DATA_DEPTH, whatever the input.
    if depth > MAX_DATA_DEPTH:
        return False
    for child in item.values() if type(item) is dict else item:
        kind = type(child)
        if kind is float:
            if child - child != 0.0:  # NaN and ±inf; 0.0 for every finite float
                return False
        elif (kind is dict or kind is list) and not _sound(child, depth + 1):
            return False
    return True


def _first_problem(value: dict[str, Any]) -> str:
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if depth > MAX_DATA_DEPTH:
            return f"nested deeper than {MAX_DATA_DEPTH} levels at {path or '(data)'}"
        children = item.items() if type(item) is dict else enumerate(item)
        for key, child in children:
            where = f"{path}.{key}" if path else str(key)
            kind = type(child)
            if kind is float and not math.isfinite(child):
                return (
                    f"{where}: {child} is not a JSON number (NaN and Infinity are not "
                    "allowed, nor numbers beyond ±1.8e308)"
                )
            if kind is dict or kind is list:
                stack.append((child, depth + 1, where))
    return "invalid data"


JsonData = Annotated[dict[str, JsonValue], AfterValidator(check_json_data)]
"""A record's ``data``: a JSON object of finite numbers, at most 32 levels deep."""
