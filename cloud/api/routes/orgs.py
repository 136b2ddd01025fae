"""The organisation itself."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import AdminScope, DatabaseDep, GuestScope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.accounts import OrganisationPublic, OrganisationUpdate
from cloud.api.services.accounts import rename_organisation

router = APIRouter(route_class=DocumentedRoute, tags=["organisations"])


@router.get("")
def read_org(scope: GuestScope) -> OrganisationPublic:
    return OrganisationPublic.model_validate(scope.org)


@router.patch("")
def update_org(scope: AdminScope, db: DatabaseDep, data: OrganisationUpdate) -> OrganisationPublic:
    """Rename the organisation (its slug never changes: devices' topics use it)."""
    return OrganisationPublic.model_validate(rename_organisation(db, org=scope.org, name=data.name))
