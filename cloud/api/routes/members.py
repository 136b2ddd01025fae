"""Members of the organisation and their roles."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import AdminScope, DatabaseDep, MemberScope, org_scope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.accounts import (
    MembershipCreate,
    MembershipPublic,
    MembershipsPublic,
    MembershipUpdate,
    UserPublic,
)
from cloud.api.services import members as service
from cloud.models import Membership

router = APIRouter(prefix="/members", route_class=DocumentedRoute, tags=["members"])


def _public(row: Membership) -> MembershipPublic:
    return MembershipPublic(
        id=row.id,
        role=row.role,
        created_at=row.created_at,
        user=UserPublic.model_validate(row.user),
    )


def membership_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], membership_id: Annotated[UUID, Path()]
) -> Membership:
    return service.get_membership(scope=scope, membership_id=membership_id)


MembershipInOrg = Annotated[Membership, Depends(membership_in_org)]


@router.get("")
def list_members(scope: MemberScope) -> MembershipsPublic:
    rows = service.list_members(scope=scope)
    return MembershipsPublic(data=[_public(row) for row in rows], count=len(rows))


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={409: {"description": "Already a member."}}
)
def add_member(scope: AdminScope, db: DatabaseDep, data: MembershipCreate) -> MembershipPublic:
    """Add a person (a user is created for a new email) with a role no higher than yours."""
    return _public(service.add_member(db, scope=scope, data=data))


@router.patch(
    "/{membership_id}", responses={409: {"description": "The last owner cannot be demoted."}}
)
def change_role(
    scope: AdminScope, db: DatabaseDep, membership: MembershipInOrg, data: MembershipUpdate
) -> MembershipPublic:
    return _public(service.change_role(db, scope=scope, membership=membership, role=data.role))


@router.delete(
    "/{membership_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "The last owner cannot be removed."}},
)
def remove_member(scope: AdminScope, db: DatabaseDep, membership: MembershipInOrg) -> None:
    """Remove the person from the organisation and revoke their tokens for it."""
    service.remove_member(db, scope=scope, membership=membership)
