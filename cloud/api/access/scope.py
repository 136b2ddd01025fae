"""Who is asking, and within which organisation: the value every service is scoped by."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from cloud.models import ROLE_RANK, ApiToken, Membership, Organisation, Role, User

__all__ = ["OrgScope", "Principal"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user acting through one token within one organisation."""

    user: User
    token: ApiToken
    org: Organisation
    membership: Membership


@dataclass(frozen=True)
class OrgScope:
    """The organisation a request is confined to, and the caller's role in it.

    Services take it as a keyword argument and filter every query by
    ``scope.org_id``; anything of another organisation is "not found".
    """

    org: Organisation
    user: User
    role: Role
    token_id: UUID | None = None

    @property
    def org_id(self) -> UUID:
        return self.org.id  # type: ignore[no-any-return]

    @property
    def user_id(self) -> UUID:
        return self.user.id  # type: ignore[no-any-return]

    def at_least(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]
