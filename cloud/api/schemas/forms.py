"""Form templates and their versions (spec 003's session forms)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

from cloud.api.forms.clips import ClipSettings
from cloud.api.forms.fields import MAX_FIELDS, FormField, check_unique_keys
from cloud.api.schemas.common import Input, Output

__all__ = [
    "FormCreate",
    "FormPublic",
    "FormUpdate",
    "FormVersionPublic",
    "FormVersionsPublic",
    "FormsPublic",
]


class FormCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    team_id: UUID | None = None
    fields: list[FormField] = Field(min_length=1, max_length=MAX_FIELDS)
    clip: ClipSettings | None = Field(
        default=None,
        description="Logs of this form become clips: [occurred_at - lead_s, occurred_at + "
        "lag_s] from every camera of the session (per value of the select field by_field).",
    )

    @field_validator("fields")
    @classmethod
    def _unique(cls, fields: list[FormField]) -> list[FormField]:
        return check_unique_keys(fields)


class FormUpdate(Input):
    """Changing ``fields`` or ``clip`` writes a new version; logs keep the version they
    were written against. ``clip: null`` stops logs becoming clips."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    fields: list[FormField] | None = Field(default=None, min_length=1, max_length=MAX_FIELDS)
    clip: ClipSettings | None = None

    @field_validator("fields")
    @classmethod
    def _unique(cls, fields: list[FormField] | None) -> list[FormField] | None:
        return check_unique_keys(fields) if fields is not None else None


class FormVersionPublic(Output):
    form_id: UUID
    version: int
    fields: list[FormField]
    clip: ClipSettings | None
    created_at: datetime
    created_by: UUID | None


class FormVersionsPublic(Output):
    data: list[FormVersionPublic]
    count: int


class FormPublic(Output):
    id: UUID
    name: str
    description: str | None
    team_id: UUID | None
    current_version: int
    fields: list[FormField] = Field(description="The current version's fields.")
    clip: ClipSettings | None = Field(description="The current version's clip settings.")
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


class FormsPublic(Output):
    data: list[FormPublic]
    count: int
