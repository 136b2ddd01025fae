"""Session form templates (spec 003): a template and its immutable versions."""

from __future__ import annotations

from uuid import UUID

from peewee import Check, ForeignKeyField, IntegerField, JSONField, TextField

from cloud.models.accounts import Organisation, Team, User
from cloud.models.base import BaseModel, UtcDateTimeField, new_uuid_pk, utc_now

__all__ = ["FormTemplate", "FormVersion"]


class FormTemplate(BaseModel):
    """What the form builder edits. Editing writes a new :class:`FormVersion`."""

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="form_templates", on_delete="CASCADE", index=False)
    org_id: UUID
    team = ForeignKeyField(Team, null=True, backref="form_templates", on_delete="SET NULL")
    team_id: UUID | None
    name = TextField()
    description = TextField(null=True)
    current_version = IntegerField(default=1, constraints=[Check("current_version >= 1")])
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_by_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now)
    archived_at = UtcDateTimeField(null=True)  # hidden from pickers; old logs keep it

    class Meta:
        indexes = ((("org", "archived_at", "name"), False),)


class FormVersion(BaseModel):
    """One version's field schema (JSON list of field definitions); never changed."""

    id = new_uuid_pk()
    template = ForeignKeyField(FormTemplate, backref="versions", on_delete="CASCADE", index=False)
    template_id: UUID
    version = IntegerField(constraints=[Check("version >= 1")])
    fields = JSONField()
    # How a log becomes clips (lead/lag, per value of a select field): see
    # cloud.api.forms.clips.ClipSettings. Empty: logs of this version ask for no clip.
    clip = JSONField(null=True)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_by_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("template", "version"), True),)
