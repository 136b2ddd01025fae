"""API tokens within an organisation: your own, or (admins) anyone's."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.access.tokens import MintedToken
from cloud.api.schemas.accounts import TokenCreate
from cloud.api.services.accounts import issue_token
from cloud.api.services.references import member_user_in_org
from cloud.db import write_transaction
from cloud.errors import NotFound
from cloud.models import ApiToken, Role, User, utc_now

__all__ = ["create_token", "get_token", "list_tokens", "revoke_token"]


def _visible(scope: OrgScope) -> object:
    condition = ApiToken.org == scope.org_id
    if not scope.at_least(Role.ADMIN):
        condition &= ApiToken.user == scope.user_id
    return condition


def list_tokens(*, scope: OrgScope) -> list[ApiToken]:
    return list(
        ApiToken.select().where(_visible(scope)).order_by(ApiToken.created_at.desc(), ApiToken.id)
    )


def get_token(*, scope: OrgScope, token_id: UUID) -> ApiToken:
    row = ApiToken.get_or_none(_visible(scope) & (ApiToken.id == token_id))
    if row is None:
        raise NotFound("token", token_id)
    return row


def create_token(
    db: Database, *, scope: OrgScope, data: TokenCreate
) -> tuple[ApiToken, MintedToken]:
    user: User = scope.user
    if data.user_id is not None and data.user_id != scope.user_id:
        if not scope.at_least(Role.ADMIN):
            # Others' ids are not even confirmed to exist for non-admins.
            raise NotFound("member", data.user_id, path="body.user_id")
        user, _ = member_user_in_org(scope=scope, user_id=data.user_id, path="body.user_id")
    expires = timedelta(days=data.expires_in_days) if data.expires_in_days else None
    return issue_token(db, org=scope.org, user=user, name=data.name, expires_in=expires)


def revoke_token(db: Database, *, scope: OrgScope, token: ApiToken) -> ApiToken:
    with write_transaction(db):
        ApiToken.update(revoked_at=utc_now()).where(
            (ApiToken.id == token.id) & ApiToken.revoked_at.is_null()
        ).execute()
    return ApiToken.get_by_id(token.id)
