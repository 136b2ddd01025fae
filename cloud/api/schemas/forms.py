"""Form templates and their versions (spec 003's session forms)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

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

    @field_validator("fields")
    @classmethod
    def _unique(cls, fields: list[FormField]) -> list[FormField]:
        return check_unique_keys(fields)


class FormUpdate(Input):
    """Changing ``fields`` writes a new version; logs keep the version they were written against."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    fields: list[FormField] | None = Field(default=None, min_length=1, max_length=MAX_FIELDS)

    @field_validator("fields")
    @classmethod
    def _unique(cls, fields: list[FormField] | None) -> list[FormField] | None:
        return check_unique_keys(fields) if fields is not None else None


class FormVersionPublic(Output):
    form_id: UUID
    version: int
    fields: list[FormField]
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
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


class FormsPublic(Output):
    data: list[FormPublic]
    count: int
