"""Checking a log's ``data`` against a form version, field by field.

Every problem is reported (not only the first), each with the field's path
(``body.data.player``), a machine-readable code and a message a coach can act
on. Values come back normalised: dates as ``YYYY-MM-DD``, times as
``HH:MM:SS``, durations as whole seconds, players as roster ids.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, time
from typing import Any
from uuid import UUID

from cloud.api.forms.fields import (
    BooleanField,
    DateField,
    DurationField,
    FormField,
    IntegerField,
    LongTextField,
    MultiSelectField,
    NumberField,
    PlayerField,
    SelectField,
    TextField,
    TimeField,
)
from cloud.errors import CloudError, FieldProblem

__all__ = ["Roster", "ValueProblem", "check_default", "validate_data"]

Roster = Mapping[UUID, str]
"""Active roster members of the session's team: id -> team role."""

_DURATION = re.compile(r"^(?:(\d+):)?([0-5]?\d):([0-5]\d)$")


class ValueProblem(CloudError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def check_default(field: Any) -> None:
    """Raise ``ValueError`` when a field's own default breaks its rules."""
    default = getattr(field, "default", None)
    if default is None:
        return
    value = default.isoformat() if isinstance(default, date | time) else default
    try:
        _check(field, value, roster=None)
    except ValueProblem as problem:
        raise ValueError(f"default {default!r}: {problem.message}") from None


def validate_data(
    fields: Sequence[FormField], data: Mapping[str, Any], *, roster: Roster | None, path: str
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """``data`` checked and normalised, and every problem found (empty when valid)."""
    known = {field.key: field for field in fields}
    problems = [
        FieldProblem(
            path=f"{path}.{key}", code="unknown_field", message=f"the form has no field {key!r}"
        )
        for key in data
        if key not in known
    ]
    clean: dict[str, Any] = {}
    for field in fields:
        value = data.get(field.key)
        if _empty(value):
            default = getattr(field, "default", None)
            if default is not None:
                clean[field.key] = (
                    default.isoformat() if isinstance(default, date | time) else default
                )
            elif field.required:
                problems.append(
                    FieldProblem(
                        path=f"{path}.{field.key}",
                        code="required",
                        message=f"{field.label} is required",
                    )
                )
            continue
        try:
            clean[field.key] = _check(field, value, roster=roster)
        except ValueProblem as problem:
            problems.append(
                FieldProblem(path=f"{path}.{field.key}", code=problem.code, message=problem.message)
            )
    return clean, problems


def _check(field: Any, value: Any, *, roster: Roster | None) -> Any:
    if isinstance(field, TextField | LongTextField):
        return _text(field, value)
    if isinstance(field, NumberField):
        return _number(field, value)
    if isinstance(field, IntegerField):
        return _integer(field, value)
    if isinstance(field, BooleanField):
        if not isinstance(value, bool):
            raise ValueProblem("not_boolean", "must be true or false")
        return value
    if isinstance(field, SelectField):
        return _option(field, value)
    if isinstance(field, MultiSelectField):
        return _options(field, value)
    if isinstance(field, DateField):
        return _date(field, value)
    if isinstance(field, TimeField):
        return _time(field, value)
    if isinstance(field, DurationField):
        return _duration(field, value)
    if isinstance(field, PlayerField):
        return _player(field, value, roster)
    raise ValueProblem("unsupported", f"unsupported field type {type(field).__name__}")


def _bounds(value: Any, low: Any, high: Any, *, unit: str = "") -> None:
    if low is not None and value < low:
        raise ValueProblem("too_small", f"must be at least {low}{unit}")
    if high is not None and value > high:
        raise ValueProblem("too_large", f"must be at most {high}{unit}")


def _text(field: TextField | LongTextField, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueProblem("not_text", "must be text")
    if field.min_length is not None and len(value) < field.min_length:
        raise ValueProblem("too_short", f"must be at least {field.min_length} characters")
    if field.max_length is not None and len(value) > field.max_length:
        raise ValueProblem("too_long", f"must be at most {field.max_length} characters")
    if isinstance(field, TextField) and field.pattern and not re.fullmatch(field.pattern, value):
        raise ValueProblem("pattern_mismatch", f"must match the pattern {field.pattern}")
    return value


def _number(field: NumberField, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueProblem("not_a_number", "must be a number")
    _bounds(value, field.min, field.max)
    return value


def _integer(field: IntegerField, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueProblem("not_an_integer", "must be a whole number")
    _bounds(value, field.min, field.max)
    return value


def _option(field: SelectField, value: Any) -> str:
    allowed = [option.value for option in field.options]
    if value not in allowed:
        raise ValueProblem("not_an_option", f"must be one of: {', '.join(allowed)}")
    return str(value)


def _options(field: MultiSelectField, value: Any) -> list[str]:
    allowed = [option.value for option in field.options]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueProblem("not_a_list", "must be a list of options")
    wrong = [item for item in value if item not in allowed]
    if wrong:
        raise ValueProblem("not_an_option", f"{', '.join(wrong)} not among: {', '.join(allowed)}")
    if len(set(value)) != len(value):
        raise ValueProblem("duplicate_option", "an option is chosen twice")
    _bounds(len(value), field.min_items, field.max_items, unit=" choices")
    return list(value)


def _date(field: DateField, value: Any) -> str:
    try:
        parsed = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueProblem("not_a_date", "must be a date like 2026-03-01")
    _bounds(parsed, field.min, field.max)
    return parsed.isoformat()


def _time(field: TimeField, value: Any) -> str:
    try:
        parsed = time.fromisoformat(value) if isinstance(value, str) and len(value) <= 8 else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None:
        raise ValueProblem("not_a_time", "must be a time like 14:30 or 14:30:15")
    _bounds(parsed, field.min, field.max)
    return parsed.isoformat()


def _duration(field: DurationField, value: Any) -> int:
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds is None:
        raise ValueProblem("not_a_duration", "must be seconds, 'MM:SS' or 'HH:MM:SS'")
    _bounds(seconds, field.min_seconds, field.max_seconds, unit=" s")
    return seconds


def _player(field: PlayerField, value: Any, roster: Roster | None) -> str:
    try:
        member = UUID(str(value))
    except ValueError:
        raise ValueProblem(
            "not_a_player", "must be the id of a person on the team roster"
        ) from None
    if roster is None:
        # Checking a form's default (no session yet), or a session without a team.
        raise ValueProblem(
            "no_roster", "the session has no team, so there is no roster to pick from"
        )
    roles = field.roles or ["player"]
    if roster.get(member) not in roles:
        raise ValueProblem("not_on_roster", f"is not a {' or '.join(roles)} on the team roster")
    return str(member)
