"""API tokens: shown once at creation, stored as a hash, revocable."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import DatabaseDep, GuestScope, org_scope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.accounts import TokenCreate, TokenCreated, TokenPublic, TokensPublic
from cloud.api.services import tokens as service
from cloud.models import ApiToken

router = APIRouter(prefix="/tokens", route_class=DocumentedRoute, tags=["tokens"])


def token_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], token_id: Annotated[UUID, Path()]
) -> ApiToken:
    return service.get_token(scope=scope, token_id=token_id)


TokenInOrg = Annotated[ApiToken, Depends(token_in_org)]


@router.get("")
def list_tokens(scope: GuestScope) -> TokensPublic:
    """Your tokens (admins: everyone's in the organisation)."""
    rows = service.list_tokens(scope=scope)
    return TokensPublic(data=[TokenPublic.model_validate(row) for row in rows], count=len(rows))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(scope: GuestScope, db: DatabaseDep, data: TokenCreate) -> TokenCreated:
    """Mint a token for yourself (admins: for any member). The response is the only time it is shown."""
    row, minted = service.create_token(db, scope=scope, data=data)
    return TokenCreated(**TokenPublic.model_validate(row).model_dump(), token=minted.secret)


@router.delete("/{token_id}")
def revoke_token(scope: GuestScope, db: DatabaseDep, token: TokenInOrg) -> TokenPublic:
    return TokenPublic.model_validate(service.revoke_token(db, scope=scope, token=token))
