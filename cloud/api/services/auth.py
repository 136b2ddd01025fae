"""Turning a bearer token into a :class:`Principal` (one indexed query)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from peewee import Database

from cloud.api.access.scope import Principal
from cloud.api.access.tokens import hash_token, looks_like_token
from cloud.api.query.prepared import PreparedSelect
from cloud.errors import Unauthorized
from cloud.models import ApiToken, Membership, Organisation, User, utc_now

__all__ = ["authenticate"]

# Writing last_used_at on every request would turn every read into a write;
# once a minute is enough to tell which tokens are in use.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


_TOKEN = PreparedSelect(
    lambda p: (
        ApiToken.select(
            ApiToken.id.alias("token_id"),
            ApiToken.revoked_at,
            ApiToken.expires_at,
            ApiToken.last_used_at,
            User.id.alias("user_id"),
            User.email,
            User.name.alias("user_name"),
            User.is_active,
            Organisation.id.alias("org_id"),
            Organisation.slug,
            Organisation.name.alias("org_name"),
            Organisation.created_at.alias("org_created_at"),
            Membership.id.alias("membership_id"),
            Membership.role,
        )
        .join(User, on=ApiToken.user == User.id)
        .switch(ApiToken)
        .join(Organisation, on=ApiToken.org == Organisation.id)
        .switch(ApiToken)
        .join(
            Membership,
            on=(Membership.org == ApiToken.org) & (Membership.user == ApiToken.user),
        )
        .where(ApiToken.token_hash == p.one("hash", ApiToken.token_hash))
    )
)


def authenticate(db: Database, token: str) -> Principal:
    """The caller behind ``token`` (one prepared query; see :mod:`cloud.api.query.prepared`)."""
    if not looks_like_token(token):
        raise Unauthorized("the bearer token is malformed; tokens start with 'sl_'")
    row = _TOKEN.first(db, hash=hash_token(token))
    if row is None:
        raise Unauthorized("unknown token, or its user is no longer a member of the organisation")
    now = utc_now()
    if row["revoked_at"] is not None:
        raise Unauthorized("this token was revoked; create a new one")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise Unauthorized("this token has expired; create a new one")
    if not row["is_active"]:
        raise Unauthorized("this user is deactivated")
    last_used = row["last_used_at"]
    if last_used is None or now - last_used >= _LAST_USED_RESOLUTION:
        ApiToken.update(last_used_at=now).where(ApiToken.id == row["token_id"]).execute()
    user = User(id=UUID(row["user_id"]), email=row["email"], name=row["user_name"], is_active=True)
    org = Organisation(
        id=UUID(row["org_id"]),
        slug=row["slug"],
        name=row["org_name"],
        created_at=row["org_created_at"],
    )
    membership = Membership(id=UUID(row["membership_id"]), org=org, user=user, role=row["role"])
    token_row = ApiToken(
        id=UUID(row["token_id"]), org=org, user=user, last_used_at=row["last_used_at"]
    )
    return Principal(user=user, token=token_row, org=org, membership=membership)
