"""Creating the accounts themselves: organisations, users, memberships, tokens.

These are the operations the ``sideline cloud`` admin commands and the API
share; the API's scoped rules (who may grant which role) are in
:mod:`cloud.api.services.members` and :mod:`cloud.api.services.tokens`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from peewee import Database, IntegrityError

from cloud.api.access.tokens import MintedToken, mint_token
from cloud.db import write_transaction
from cloud.errors import Conflict, FieldProblem
from cloud.models import ApiToken, Membership, Organisation, Role, User, utc_now

__all__ = [
    "add_membership",
    "create_organisation",
    "find_or_create_user",
    "found_organisation",
    "issue_token",
    "rename_organisation",
]


def create_organisation(db: Database, *, slug: str, name: str) -> Organisation:
    try:
        with write_transaction(db):
            return Organisation.create(slug=slug, name=name)
    except IntegrityError:
        message = f"an organisation with slug {slug!r} already exists; choose another slug"
        raise Conflict(
            message,
            code="slug_taken",
            fields=[FieldProblem(path="body.slug", code="taken", message=message)],
        ) from None


def find_or_create_user(db: Database, *, email: str, name: str) -> User:
    email = email.strip().lower()
    with write_transaction(db):
        user = User.get_or_none(User.email == email)
        if user is None:
            user = User.create(email=email, name=name)
        return user


def add_membership(db: Database, *, org: Organisation, user: User, role: Role) -> Membership:
    try:
        with write_transaction(db):
            return Membership.create(org=org, user=user, role=role)
    except IntegrityError:
        raise Conflict(
            f"{user.email} is already a member of {org.slug}; change their role instead",
            code="already_member",
        ) from None


def issue_token(
    db: Database,
    *,
    org: Organisation,
    user: User,
    name: str,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[ApiToken, MintedToken]:
    """Store a new token's hash; return the row and the secret (to show once)."""
    minted = mint_token()
    created = now or utc_now()
    with write_transaction(db):
        row = ApiToken.create(
            org=org,
            user=user,
            name=name,
            token_hash=minted.token_hash,
            token_prefix=minted.display_prefix,
            created_at=created,
            expires_at=created + expires_in if expires_in else None,
        )
    return row, minted


def found_organisation(
    db: Database, *, owner: User, slug: str, name: str
) -> tuple[Organisation, Membership, ApiToken, MintedToken]:
    """A new organisation with ``owner`` as its owner and a token for it (all or nothing)."""
    with write_transaction(db):
        org = create_organisation(db, slug=slug, name=name)
        membership = add_membership(db, org=org, user=owner, role=Role.OWNER)
        token, minted = issue_token(db, org=org, user=owner, name=f"{org.slug} owner")
    return org, membership, token, minted


def rename_organisation(db: Database, *, org: Organisation, name: str | None) -> Organisation:
    if name is not None:
        with write_transaction(db):
            Organisation.update(name=name).where(Organisation.id == org.id).execute()
    return Organisation.get_by_id(org.id)
