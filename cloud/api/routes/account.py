"""The caller themselves, and creating organisations (outside any one organisation)."""

from __future__ import annotations

from fastapi import APIRouter, status

from cloud.api.deps import CurrentPrincipal, DatabaseDep
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.accounts import (
    MembershipPublic,
    MePublic,
    OrganisationCreate,
    OrganisationCreated,
    OrganisationPublic,
    TokenCreated,
    TokenPublic,
    UserPublic,
)
from cloud.api.services.accounts import found_organisation

router = APIRouter(route_class=DocumentedRoute, tags=["account"])


@router.get("/me")
def read_me(principal: CurrentPrincipal) -> MePublic:
    """Who the token belongs to, its organisation and role there."""
    return MePublic(
        user=UserPublic.model_validate(principal.user),
        organisation=OrganisationPublic.model_validate(principal.org),
        role=principal.membership.role,
        token_id=principal.token.id,
    )


@router.post(
    "/orgs", status_code=status.HTTP_201_CREATED, responses={409: {"description": "Slug taken."}}
)
def create_org(
    db: DatabaseDep, principal: CurrentPrincipal, data: OrganisationCreate
) -> OrganisationCreated:
    """Create an organisation; you become its owner and get a token for it (shown once)."""
    org, membership, token, minted = found_organisation(
        db, owner=principal.user, slug=data.slug, name=data.name
    )
    membership_public = MembershipPublic(
        id=membership.id,
        role=membership.role,
        created_at=membership.created_at,
        user=UserPublic.model_validate(principal.user),
    )
    return OrganisationCreated(
        organisation=OrganisationPublic.model_validate(org),
        membership=membership_public,
        token=TokenCreated(**TokenPublic.model_validate(token).model_dump(), token=minted.secret),
    )
