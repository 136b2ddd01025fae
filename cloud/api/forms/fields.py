"""A form's field definitions: what the form builder edits (spec 003).

A form is a list of fields, each with a ``key`` (the key in a log's ``data``),
a label, a type and the rules for its value. The definitions are checked when a
form is saved (bounds in order, options unique, the default itself valid, the
pattern compiles), so a log is only ever checked against a sound form.
"""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cloud.api.errors import register_union_tags

__all__ = [
    "BooleanField",
    "DateField",
    "DurationField",
    "FieldType",
    "FormField",
    "FormFields",
    "IntegerField",
    "LongTextField",
    "MultiSelectField",
    "NumberField",
    "Option",
    "PlayerField",
    "SelectField",
    "TextField",
    "TimeField",
    "check_unique_keys",
]

FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MAX_FIELDS = 100


class FieldType(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    SELECT = "select"
    MULTI_SELECT = "multi_select"
    DATE = "date"
    TIME = "time"
    DURATION = "duration"
    PLAYER = "player"


class _Field(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: FieldKey = Field(description="The key in a log's data: lower case, digits, '_'.")
    label: str = Field(min_length=1, max_length=200)
    help_text: str | None = Field(default=None, max_length=1000)
    required: bool = False

    @model_validator(mode="after")
    def _default_is_valid(self) -> _Field:
        from cloud.api.forms.values import check_default

        check_default(self)
        return self


def _ordered(low: Any, high: Any, what: str) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"{what}: the minimum is greater than the maximum")


class _TextRules(_Field):
    min_length: int | None = Field(default=None, ge=0, le=100_000)
    max_length: int | None = Field(default=None, ge=1, le=100_000)
    default: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> _TextRules:
        _ordered(self.min_length, self.max_length, "length")
        return self


class TextField(_TextRules):
    type: Literal["text"] = "text"
    pattern: str | None = Field(
        default=None, max_length=500, description="A regular expression the whole value matches."
    )

    @model_validator(mode="after")
    def _pattern_compiles(self) -> TextField:
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        return self


class LongTextField(_TextRules):
    type: Literal["long_text"] = "long_text"


class NumberField(_Field):
    type: Literal["number"] = "number"
    min: float | None = None
    max: float | None = None
    default: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> NumberField:
        _ordered(self.min, self.max, "number")
        return self


class IntegerField(_Field):
    type: Literal["integer"] = "integer"
    min: int | None = None
    max: int | None = None
    default: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> IntegerField:
        _ordered(self.min, self.max, "integer")
        return self


class BooleanField(_Field):
    type: Literal["boolean"] = "boolean"
    default: bool | None = None


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1, max_length=100)
    label: str | None = Field(default=None, max_length=200)


class _Choice(_Field):
    options: list[Option] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique(self) -> _Choice:
        values = [option.value for option in self.options]
        if len(set(values)) != len(values):
            raise ValueError("option values must be unique")
        return self


class SelectField(_Choice):
    type: Literal["select"] = "select"
    default: str | None = None


class MultiSelectField(_Choice):
    type: Literal["multi_select"] = "multi_select"
    min_items: int | None = Field(default=None, ge=0)
    max_items: int | None = Field(default=None, ge=1)
    default: list[str] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> MultiSelectField:
        _ordered(self.min_items, self.max_items, "items")
        return self


class DateField(_Field):
    type: Literal["date"] = "date"
    min: date | None = None
    max: date | None = None
    default: date | None = None

    @model_validator(mode="after")
    def _bounds(self) -> DateField:
        _ordered(self.min, self.max, "date")
        return self


class TimeField(_Field):
    type: Literal["time"] = "time"
    min: time | None = None
    max: time | None = None
    default: time | None = None

    @model_validator(mode="after")
    def _bounds(self) -> TimeField:
        _ordered(self.min, self.max, "time")
        return self


class DurationField(_Field):
    """A duration, stored as whole seconds; entered as seconds, 'MM:SS' or 'HH:MM:SS'."""

    type: Literal["duration"] = "duration"
    min_seconds: int | None = Field(default=None, ge=0)
    max_seconds: int | None = Field(default=None, ge=0)
    default: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> DurationField:
        _ordered(self.min_seconds, self.max_seconds, "duration")
        return self


class PlayerField(_Field):
    """A person from the session's team roster (its id); ``roles`` narrows who."""

    type: Literal["player"] = "player"
    roles: list[Literal["player", "coach", "staff"]] | None = Field(
        default=None, description="Empty: players only."
    )


FormField = Annotated[
    TextField
    | LongTextField
    | NumberField
    | IntegerField
    | BooleanField
    | SelectField
    | MultiSelectField
    | DateField
    | TimeField
    | DurationField
    | PlayerField,
    Field(discriminator="type"),
]


register_union_tags(kind.value for kind in FieldType)


class FormFields(BaseModel):
    """A whole form: keys unique (each field checks its own default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: list[FormField] = Field(min_length=1, max_length=MAX_FIELDS)

    @model_validator(mode="after")
    def _unique_keys(self) -> FormFields:
        check_unique_keys(self.fields)
        return self


def check_unique_keys(fields: list[Any]) -> list[Any]:
    keys = [field.key for field in fields]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"field keys must be unique; repeated: {', '.join(duplicates)}")
    return fields
