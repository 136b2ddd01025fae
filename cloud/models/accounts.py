"""Who: organisations, teams and their rosters, users, memberships, API tokens."""

from __future__ import annotations

from uuid import UUID

from peewee import (
    BooleanField,
    CharField,
    ForeignKeyField,
    TextField,
)

from cloud.models.base import (
    SEGMENT_LENGTH,
    BaseModel,
    StrEnumField,
    UtcDateTimeField,
    new_uuid_pk,
    utc_now,
)
from cloud.models.enums import Role, TeamRole

__all__ = ["ApiToken", "Membership", "Organisation", "Team", "TeamMember", "User"]


class Organisation(BaseModel):
    id = new_uuid_pk()
    # The slug is the ``org`` level of every MQTT topic and S3 key: never renamed.
    slug = CharField(max_length=SEGMENT_LENGTH, unique=True)
    name = TextField()
    created_at = UtcDateTimeField(default=utc_now)


class Team(BaseModel):
    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="teams", on_delete="CASCADE", index=False)
    org_id: UUID
    name = TextField()
    created_at = UtcDateTimeField(default=utc_now)
    archived_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("org", "name"), True),)


class User(BaseModel):
    id = new_uuid_pk()
    email = CharField(max_length=254, unique=True)  # stored lower-cased
    name = TextField()
    password_hash = TextField(null=True)  # argon2; for dashboard sign-in
    is_active = BooleanField(default=True)
    created_at = UtcDateTimeField(default=utc_now)


class Membership(BaseModel):
    """A user's role in one organisation (``Role``; ranks in ``ROLE_RANK``)."""

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="memberships", on_delete="CASCADE", index=False)
    org_id: UUID
    user = ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    user_id: UUID
    role = StrEnumField(Role)
    created_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("org", "user"), True),)


class TeamMember(BaseModel):
    """A team's roster: the people a form's ``player`` field can name."""

    id = new_uuid_pk()
    team = ForeignKeyField(Team, backref="roster", on_delete="CASCADE", index=False)
    team_id: UUID
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")  # players need no account
    user_id: UUID | None
    display_name = TextField()
    number = CharField(max_length=8, null=True)  # shirt number, "07" is not 7
    position = CharField(max_length=64, null=True)
    role = StrEnumField(TeamRole, default=TeamRole.PLAYER)
    active = BooleanField(default=True)
    created_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("team", "active", "display_name"), False),)


class ApiToken(BaseModel):
    """A bearer token acting as ``user`` within ``org``; only its SHA-256 is kept.

    Tokens are long random strings, so a plain SHA-256 is enough to make a
    leaked table useless and still allows an indexed lookup per request.
    """

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="api_tokens", on_delete="CASCADE")
    org_id: UUID
    user = ForeignKeyField(User, backref="api_tokens", on_delete="CASCADE")
    user_id: UUID
    name = TextField()
    token_hash = CharField(max_length=64, unique=True)  # sha256 hex of the whole token
    token_prefix = CharField(max_length=16)  # shown in lists so people can tell tokens apart
    created_at = UtcDateTimeField(default=utc_now)
    last_used_at = UtcDateTimeField(null=True)
    expires_at = UtcDateTimeField(null=True)
    revoked_at = UtcDateTimeField(null=True)
