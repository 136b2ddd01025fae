"""Memberships: who belongs to the organisation and with which role.

Rules: admins and owners manage members; only an owner may grant, change or
remove the owner role; an admin cannot grant a role above their own; the last
owner can be neither demoted nor removed.
"""

from __future__ import annotations

from uuid import UUID

from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.query.rows import fk_id
from cloud.api.schemas.accounts import MembershipCreate
from cloud.api.services.accounts import add_membership, find_or_create_user
from cloud.db import write_transaction
from cloud.errors import Conflict, Forbidden, NotFound
from cloud.models import ROLE_RANK, ApiToken, Membership, Role, User, utc_now

__all__ = ["add_member", "change_role", "get_membership", "list_members", "remove_member"]


def list_members(*, scope: OrgScope) -> list[Membership]:
    return list(
        Membership.select(Membership, User)
        .join(User)
        .where(Membership.org == scope.org_id)
        .order_by(User.name, User.id)
    )


def get_membership(*, scope: OrgScope, membership_id: UUID) -> Membership:
    row: Membership | None = (
        Membership.select(Membership, User)
        .join(User)
        .where((Membership.id == membership_id) & (Membership.org == scope.org_id))
        .first()
    )
    if row is None:
        raise NotFound("member", membership_id)
    return row


def _may_grant(scope: OrgScope, role: Role) -> None:
    if role is Role.OWNER and scope.role is not Role.OWNER:
        raise Forbidden("only an owner can make someone an owner")
    if ROLE_RANK[role] > ROLE_RANK[scope.role]:
        raise Forbidden(f"you cannot grant {role.value}, which is above your own role")


def _may_manage(scope: OrgScope, membership: Membership) -> None:
    if Role(membership.role) is Role.OWNER and scope.role is not Role.OWNER:
        raise Forbidden("only an owner can change or remove an owner")


def _other_owners(db: Database, scope: OrgScope, membership: Membership) -> int:
    return (
        Membership.select()
        .where(
            (Membership.org == scope.org_id)
            & (Membership.role == Role.OWNER)
            & (Membership.id != membership.id)
        )
        .count()
    )


def add_member(db: Database, *, scope: OrgScope, data: MembershipCreate) -> Membership:
    _may_grant(scope, data.role)
    user = find_or_create_user(db, email=data.email, name=data.name)
    membership = add_membership(db, org=scope.org, user=user, role=data.role)
    return get_membership(scope=scope, membership_id=membership.id)


def change_role(db: Database, *, scope: OrgScope, membership: Membership, role: Role) -> Membership:
    _may_manage(scope, membership)
    _may_grant(scope, role)
    with write_transaction(db):
        if Role(membership.role) is Role.OWNER and role is not Role.OWNER:
            if _other_owners(db, scope, membership) == 0:
                raise Conflict(
                    "the last owner cannot be demoted; make someone else owner first",
                    code="last_owner",
                )
        Membership.update(role=role).where(Membership.id == membership.id).execute()
    return get_membership(scope=scope, membership_id=membership.id)


def remove_member(db: Database, *, scope: OrgScope, membership: Membership) -> None:
    """Remove the membership and revoke the person's tokens for this organisation."""
    _may_manage(scope, membership)
    with write_transaction(db):
        if Role(membership.role) is Role.OWNER and _other_owners(db, scope, membership) == 0:
            raise Conflict("the last owner cannot be removed", code="last_owner")
        Membership.delete().where(Membership.id == membership.id).execute()
        ApiToken.update(revoked_at=utc_now()).where(
            (ApiToken.org == scope.org_id)
            & (ApiToken.user == fk_id(membership, "user"))
            & ApiToken.revoked_at.is_null()
        ).execute()
