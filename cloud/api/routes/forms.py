"""Form templates (003's session forms): editing fields writes a new version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from cloud.api.deps import CoachScope, DatabaseDep, FormInOrg, MemberScope, TaggingDep
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.forms import (
    FormCreate,
    FormPublic,
    FormsPublic,
    FormUpdate,
    FormVersionPublic,
    FormVersionsPublic,
)
from cloud.api.services import forms as service

router = APIRouter(prefix="/forms", route_class=DocumentedRoute, tags=["forms"])


@router.get("")
def list_forms(scope: MemberScope, include_archived: bool = False) -> FormsPublic:
    forms = service.list_forms(scope=scope, include_archived=include_archived)
    return FormsPublic(data=forms, count=len(forms))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_form(
    scope: CoachScope, db: DatabaseDep, tagging: TaggingDep, data: FormCreate
) -> FormPublic:
    """A form template; with ``clip``, its logs become clips (lead/lag, per value)."""
    return service.form_public(service.create_form(db, scope=scope, data=data, limits=tagging))


@router.get("/{form_id}")
def read_form(scope: MemberScope, form: FormInOrg) -> FormPublic:
    return service.form_public(form)


@router.patch("/{form_id}")
def update_form(
    scope: CoachScope, db: DatabaseDep, form: FormInOrg, tagging: TaggingDep, data: FormUpdate
) -> FormPublic:
    """Rename, or change the fields or clip settings (a new version; sessions already live
    keep theirs)."""
    return service.form_public(
        service.update_form(db, scope=scope, form=form, data=data, limits=tagging)
    )


@router.delete("/{form_id}", status_code=status.HTTP_204_NO_CONTENT)
def archive_form(scope: CoachScope, db: DatabaseDep, form: FormInOrg) -> None:
    """Archive: hidden from pickers; sessions and logs written with it keep it."""
    service.archive_form(db, scope=scope, form=form)


@router.get("/{form_id}/versions")
def list_form_versions(scope: MemberScope, form: FormInOrg) -> FormVersionsPublic:
    versions = service.list_form_versions(form=form)
    return FormVersionsPublic(data=versions, count=len(versions))


@router.get("/{form_id}/versions/{version}")
def read_form_version(
    scope: MemberScope, form: FormInOrg, version: Annotated[int, Path(ge=1)]
) -> FormVersionPublic:
    return service.version_public(service.get_form_version(form=form, version=version))
