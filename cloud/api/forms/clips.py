"""A form's clip settings: how a log written with it becomes a clip from every camera.

Coaches' code windows work this way (a button per action, each with a lead and
a lag): a form carries ``lead_s`` and ``lag_s``, and optionally ``by_field``, a
select field whose values carry their own (``action = goal`` 15 s before and
8 s after, ``turnover`` 6 s and 3 s). A log of the form asks the session's
devices for ``[occurred_at - lead, occurred_at + lag]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud.api.config import TaggingConfig
from cloud.api.forms.fields import FormField, SelectField
from cloud.errors import FieldProblem

__all__ = ["ClipSettings", "ClipTiming", "check_clip_settings", "check_timing", "timing_for"]

_OptionValue = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class ClipTiming(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_s: float = Field(ge=0, le=3600, description="Seconds before the logged moment.")
    lag_s: float = Field(ge=0, le=600, description="Seconds after it.")


class ClipSettings(ClipTiming):
    """``lead_s``/``lag_s`` for every log of the form; ``values`` override them per value
    of the select field ``by_field``."""

    by_field: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = Field(
        default=None, description="A select field whose values have their own timing."
    )
    values: dict[_OptionValue, ClipTiming] = Field(default_factory=dict, max_length=500)


def check_timing(
    lead_s: float, lag_s: float, limits: TaggingConfig, *, path: str
) -> list[FieldProblem]:
    """Problems with a lead/lag pair against the configured (or a box's) maxima."""
    problems = []
    if lead_s > limits.max_lead_s:
        problems.append(
            FieldProblem(
                f"{path}.lead_s",
                "too_large",
                f"lead {lead_s:g} s is over the maximum of {limits.max_lead_s:g} s",
            )
        )
    if lag_s > limits.max_lag_s:
        problems.append(
            FieldProblem(
                f"{path}.lag_s",
                "too_large",
                f"lag {lag_s:g} s is over the maximum of {limits.max_lag_s:g} s "
                "(how far ahead a box cuts)",
            )
        )
    if lead_s + lag_s > limits.max_range_s:
        problems.append(
            FieldProblem(
                f"{path}.lag_s",
                "range_too_long",
                f"lead + lag ({lead_s + lag_s:g} s) is over the longest clip of "
                f"{limits.max_range_s:g} s",
            )
        )
    if lead_s + lag_s <= 0:
        problems.append(
            FieldProblem(f"{path}.lag_s", "empty_range", "lead and lag are both 0: no clip")
        )
    return problems


def check_clip_settings(
    settings: ClipSettings, fields: Sequence[FormField], limits: TaggingConfig, *, path: str
) -> list[FieldProblem]:
    """Every problem of ``settings`` for a form of ``fields`` (field paths under ``path``)."""
    problems = check_timing(settings.lead_s, settings.lag_s, limits, path=path)
    if settings.by_field is None:
        if settings.values:
            problems.append(
                FieldProblem(
                    f"{path}.values",
                    "no_field",
                    "values need by_field: the select field they belong to",
                )
            )
        return problems
    field = next((f for f in fields if f.key == settings.by_field), None)
    if not isinstance(field, SelectField):
        problems.append(
            FieldProblem(
                f"{path}.by_field",
                "not_a_select",
                f"by_field {settings.by_field!r} is not a select field of this form",
            )
        )
        return problems
    options = {option.value for option in field.options}
    for value, timing in settings.values.items():
        if value not in options:
            problems.append(
                FieldProblem(
                    f"{path}.values.{value}",
                    "not_an_option",
                    f"{value!r} is not an option of {field.key!r}",
                )
            )
        problems += check_timing(timing.lead_s, timing.lag_s, limits, path=f"{path}.values.{value}")
    return problems


def timing_for(settings: ClipSettings | None, data: Mapping[str, Any]) -> ClipTiming | None:
    """The lead and lag a log with ``data`` asks for (None: the form asks for no clip)."""
    if settings is None:
        return None
    if settings.by_field is not None:
        chosen = data.get(settings.by_field)
        if isinstance(chosen, str) and chosen in settings.values:
            return settings.values[chosen]
    return ClipTiming(lead_s=settings.lead_s, lag_s=settings.lag_s)
