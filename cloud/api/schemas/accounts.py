"""Organisations, teams and rosters, users, memberships, API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints, field_validator

from cloud.api.schemas.common import Input, Output
from cloud.models import Role, TeamRole
from protocol.ids import Segment

__all__ = [
    "MePublic",
    "MembershipCreate",
    "MembershipPublic",
    "MembershipUpdate",
    "MembershipsPublic",
    "OrganisationCreate",
    "OrganisationCreated",
    "OrganisationPublic",
    "OrganisationUpdate",
    "TeamCreate",
    "TeamMemberCreate",
    "TeamMemberPublic",
    "TeamMemberUpdate",
    "TeamMembersPublic",
    "TeamPublic",
    "TeamUpdate",
    "TeamsPublic",
    "TokenCreate",
    "TokenCreated",
    "TokenPublic",
    "TokensPublic",
    "UserPublic",
]

Name = Field(min_length=1, max_length=200)
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


# --- organisations -----------------------------------------------------------


class OrganisationBase(Input):
    name: str = Name


class OrganisationCreate(OrganisationBase):
    slug: Segment = Field(
        description="Topic level and S3 key part for the org's devices; never renamed."
    )


class OrganisationUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class OrganisationPublic(Output):
    id: UUID
    slug: str
    name: str
    created_at: datetime


# --- users and memberships ---------------------------------------------------


class UserPublic(Output):
    id: UUID
    email: str
    name: str
    is_active: bool


class MembershipCreate(Input):
    """Add a person to the organisation; a user is created if the email is new."""

    email: Email
    name: str = Name
    role: Role = Role.MEMBER

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class MembershipUpdate(Input):
    role: Role


class MembershipPublic(Output):
    id: UUID
    role: Role
    created_at: datetime
    user: UserPublic


class MembershipsPublic(Output):
    data: list[MembershipPublic]
    count: int


class MePublic(Output):
    user: UserPublic
    organisation: OrganisationPublic
    role: Role
    token_id: UUID


# --- teams and rosters -------------------------------------------------------


class TeamCreate(Input):
    name: str = Name


class TeamUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class TeamPublic(Output):
    id: UUID
    name: str
    created_at: datetime
    archived_at: datetime | None


class TeamsPublic(Output):
    data: list[TeamPublic]
    count: int


class TeamMemberBase(Input):
    display_name: str = Name
    number: str | None = Field(default=None, max_length=8, description="Shirt number, as text.")
    position: str | None = Field(default=None, max_length=64)
    role: TeamRole = TeamRole.PLAYER


class TeamMemberCreate(TeamMemberBase):
    user_id: UUID | None = Field(
        default=None, description="A member of the org; players need none."
    )


class TeamMemberUpdate(Input):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    number: str | None = Field(default=None, max_length=8)
    position: str | None = Field(default=None, max_length=64)
    role: TeamRole | None = None
    active: bool | None = None


class TeamMemberPublic(Output):
    id: UUID
    team_id: UUID
    user_id: UUID | None
    display_name: str
    number: str | None
    position: str | None
    role: TeamRole
    active: bool


class TeamMembersPublic(Output):
    data: list[TeamMemberPublic]
    count: int


# --- API tokens --------------------------------------------------------------


class TokenCreate(Input):
    name: str = Field(min_length=1, max_length=100, description="What it is for: 'phone', 'ci'.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="Empty: never.")
    user_id: UUID | None = Field(
        default=None, description="Admins may mint a token for another member; empty: yourself."
    )


class TokenPublic(Output):
    id: UUID
    name: str
    user_id: UUID
    token_prefix: str = Field(description="The first characters, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself. Shown once: only its hash is stored.")


class TokensPublic(Output):
    data: list[TokenPublic]
    count: int


class OrganisationCreated(Output):
    organisation: OrganisationPublic
    membership: MembershipPublic
    token: TokenCreated = Field(description="A token for the new organisation (you are its owner).")
