"""Turning a bearer token into a :class:`Principal` (one indexed query)."""

from __future__ import annotations

from datetime import timedelta

from cloud.api.errors import Unauthorized
from cloud.api.scope import Principal
from cloud.api.tokens import hash_token, looks_like_token
from cloud.models import ApiToken, Membership, Organisation, User, utc_now

__all__ = ["authenticate"]

# Writing last_used_at on every request would turn every read into a write;
# once a minute is enough to tell which tokens are in use.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate(token: str) -> Principal:
    if not looks_like_token(token):
        raise Unauthorized("the bearer token is malformed; tokens start with 'sl_'")
    row = (
        ApiToken.select(ApiToken, User, Organisation, Membership)
        .join(User, on=ApiToken.user == User.id)
        .switch(ApiToken)
        .join(Organisation, on=ApiToken.org == Organisation.id)
        .switch(ApiToken)
        .join(
            Membership,
            on=(Membership.org == ApiToken.org) & (Membership.user == ApiToken.user),
            attr="membership",
        )
        .where(ApiToken.token_hash == hash_token(token))
        .first()
    )
    if row is None:
        raise Unauthorized("unknown token, or its user is no longer a member of the organisation")
    now = utc_now()
    if row.revoked_at is not None:
        raise Unauthorized("this token was revoked; create a new one")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("this token has expired; create a new one")
    user, org, membership = row.user, row.org, row.membership
    if not user.is_active:
        raise Unauthorized("this user is deactivated")
    if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_RESOLUTION:
        ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return Principal(user=user, token=row, org=org, membership=membership)
