"""Form templates: create, list, edit (a new version when fields change), archive."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.config import TaggingConfig
from cloud.api.forms.clips import ClipSettings, check_clip_settings
from cloud.api.forms.fields import FormField, FormFields
from cloud.api.query.rows import fk_id
from cloud.api.schemas.forms import FormCreate, FormPublic, FormUpdate, FormVersionPublic
from cloud.api.services.references import team_in_org
from cloud.db import is_postgres, write_transaction
from cloud.errors import InvalidInput, NotFound
from cloud.models import FormTemplate, FormVersion, utc_now

__all__ = [
    "archive_form",
    "create_form",
    "form_public",
    "get_form",
    "get_form_version",
    "list_form_versions",
    "list_forms",
    "parse_clip",
    "parse_fields",
    "update_form",
    "version_public",
]


def _dump(fields: list[FormField]) -> list[dict[str, Any]]:
    return [field.model_dump(mode="json", exclude_none=True) for field in fields]


def parse_fields(stored: list[dict[str, Any]]) -> list[FormField]:
    return list(FormFields.model_validate({"fields": stored}).fields)


def parse_clip(stored: dict[str, Any] | None) -> ClipSettings | None:
    return ClipSettings.model_validate(stored) if stored else None


def _dump_clip(settings: ClipSettings | None) -> dict[str, Any] | None:
    return settings.model_dump(mode="json", exclude_none=True) if settings else None


def _checked_clip(
    settings: ClipSettings | None, fields: list[FormField], limits: TaggingConfig
) -> dict[str, Any] | None:
    if settings is None:
        return None
    problems = check_clip_settings(settings, fields, limits, path="body.clip")
    if problems:
        raise InvalidInput(
            "the clip settings do not fit: " + "; ".join(p.message for p in problems[:5]),
            fields=problems,
        )
    return _dump_clip(settings)


def get_form(*, scope: OrgScope, form_id: UUID) -> FormTemplate:
    form = FormTemplate.get_or_none(
        (FormTemplate.id == form_id) & (FormTemplate.org == scope.org_id)
    )
    if form is None:
        raise NotFound("form", form_id)
    return form


def get_form_version(*, form: FormTemplate, version: int) -> FormVersion:
    row = FormVersion.get_or_none(
        (FormVersion.template == form.id) & (FormVersion.version == version)
    )
    if row is None:
        raise NotFound(f"version {version} of form", form.id)
    return row


def _current(form: FormTemplate) -> FormVersion:
    return get_form_version(form=form, version=form.current_version)


def form_public(form: FormTemplate, version: FormVersion | None = None) -> FormPublic:
    version = version or _current(form)
    return FormPublic(
        id=form.id,
        name=form.name,
        description=form.description,
        team_id=fk_id(form, "team"),
        current_version=form.current_version,
        fields=parse_fields(version.fields),
        clip=parse_clip(version.clip),
        created_at=form.created_at,
        updated_at=form.updated_at,
        archived_at=form.archived_at,
    )


def version_public(version: FormVersion) -> FormVersionPublic:
    return FormVersionPublic(
        form_id=fk_id(version, "template"),
        version=version.version,
        fields=parse_fields(version.fields),
        clip=parse_clip(version.clip),
        created_at=version.created_at,
        created_by=fk_id(version, "created_by"),
    )


def list_forms(*, scope: OrgScope, include_archived: bool) -> list[FormPublic]:
    condition = FormTemplate.org == scope.org_id
    if not include_archived:
        condition &= FormTemplate.archived_at.is_null()
    rows = (
        FormTemplate.select(FormTemplate, FormVersion)
        .join(
            FormVersion,
            on=(FormVersion.template == FormTemplate.id)
            & (FormVersion.version == FormTemplate.current_version),
            attr="current",
        )
        .where(condition)
        .order_by(FormTemplate.name, FormTemplate.id)
    )
    return [form_public(row, row.current) for row in rows]  # type: ignore[attr-defined]


def create_form(
    db: Database, *, scope: OrgScope, data: FormCreate, limits: TaggingConfig
) -> FormTemplate:
    clip = _checked_clip(data.clip, list(data.fields), limits)
    with write_transaction(db):
        team = team_in_org(scope=scope, team_id=data.team_id) if data.team_id else None
        form = FormTemplate.create(
            org=scope.org_id,
            team=team,
            name=data.name,
            description=data.description,
            current_version=1,
            created_by=scope.user_id,
        )
        FormVersion.create(
            template=form.id,
            version=1,
            fields=_dump(data.fields),
            clip=clip,
            created_by=scope.user_id,
        )
    return form


def update_form(
    db: Database, *, scope: OrgScope, form: FormTemplate, data: FormUpdate, limits: TaggingConfig
) -> FormTemplate:
    """Name and description change in place; new fields or clip settings are a new version
    (the clip settings carry over to new fields unless given, and must fit them)."""
    values = data.model_dump(exclude_unset=True, exclude={"fields", "clip"})
    with write_transaction(db):
        query = FormTemplate.select().where(FormTemplate.id == form.id)
        current = (query.for_update() if is_postgres(db) else query).get()
        changes: dict[str, Any] = {
            key: values[key] for key in ("name", "description") if key in values
        }
        latest = _current(current)
        new_fields = list(data.fields) if data.fields is not None else parse_fields(latest.fields)
        wanted_clip = data.clip if "clip" in data.model_fields_set else parse_clip(latest.clip)
        fields, clip = _dump(new_fields), _checked_clip(wanted_clip, new_fields, limits)
        if fields != _dump(parse_fields(latest.fields)) or clip != _dump_clip(
            parse_clip(latest.clip)
        ):
            version = current.current_version + 1
            FormVersion.create(
                template=form.id,
                version=version,
                fields=fields,
                clip=clip,
                created_by=scope.user_id,
            )
            changes["current_version"] = version
        if changes:
            changes["updated_at"] = utc_now()
            FormTemplate.update(changes).where(FormTemplate.id == form.id).execute()
    return FormTemplate.get_by_id(form.id)


def archive_form(db: Database, *, scope: OrgScope, form: FormTemplate) -> None:
    """Hidden from pickers; sessions and logs that use it keep it."""
    with write_transaction(db):
        FormTemplate.update(archived_at=utc_now(), updated_at=utc_now()).where(
            (FormTemplate.id == form.id) & FormTemplate.archived_at.is_null()
        ).execute()


def list_form_versions(*, form: FormTemplate) -> list[FormVersionPublic]:
    rows = FormVersion.select().where(FormVersion.template == form.id).order_by(FormVersion.version)
    return [version_public(row) for row in rows]
