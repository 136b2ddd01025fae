"""Teams of an organisation and their rosters (what a form's ``player`` field picks from)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from peewee import Database, IntegrityError

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.accounts import TeamCreate, TeamMemberCreate, TeamMemberUpdate, TeamUpdate
from cloud.api.services.references import member_user_in_org
from cloud.db import write_transaction
from cloud.errors import Conflict, FieldProblem, NotFound
from cloud.models import Team, TeamMember, utc_now

__all__ = [
    "add_roster_member",
    "archive_team",
    "create_team",
    "get_roster_member",
    "list_roster",
    "list_teams",
    "update_roster_member",
    "update_team",
]


def _name_taken(name: str) -> Conflict:
    message = f"the organisation already has a team called {name!r}"
    return Conflict(
        message,
        code="name_taken",
        fields=[FieldProblem(path="body.name", code="taken", message=message)],
    )


def list_teams(*, scope: OrgScope, include_archived: bool) -> list[Team]:
    condition = Team.org == scope.org_id
    if not include_archived:
        condition &= Team.archived_at.is_null()
    return list(Team.select().where(condition).order_by(Team.name, Team.id))


def create_team(db: Database, *, scope: OrgScope, data: TeamCreate) -> Team:
    try:
        with write_transaction(db):
            return Team.create(org=scope.org_id, name=data.name)
    except IntegrityError:
        raise _name_taken(data.name) from None


def update_team(db: Database, *, team: Team, data: TeamUpdate) -> Team:
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    try:
        with write_transaction(db):
            if changes:
                Team.update(changes).where(Team.id == team.id).execute()
    except IntegrityError:
        raise _name_taken(str(changes.get("name"))) from None
    return Team.get_by_id(team.id)


def archive_team(db: Database, *, team: Team) -> None:
    """Archived teams leave pickers; their sessions, forms and rosters stay."""
    with write_transaction(db):
        Team.update(archived_at=utc_now()).where(
            (Team.id == team.id) & Team.archived_at.is_null()
        ).execute()


def list_roster(*, team: Team, include_inactive: bool) -> list[TeamMember]:
    condition = TeamMember.team == team.id
    if not include_inactive:
        condition &= TeamMember.active
    return list(
        TeamMember.select().where(condition).order_by(TeamMember.display_name, TeamMember.id)
    )


def get_roster_member(*, team: Team, member_id: UUID) -> TeamMember:
    row = TeamMember.get_or_none((TeamMember.id == member_id) & (TeamMember.team == team.id))
    if row is None:
        raise NotFound("roster member", member_id)
    return row


def add_roster_member(
    db: Database, *, scope: OrgScope, team: Team, data: TeamMemberCreate
) -> TeamMember:
    if data.user_id is not None:
        member_user_in_org(scope=scope, user_id=data.user_id, path="body.user_id")
    with write_transaction(db):
        return TeamMember.create(
            team=team.id, **data.model_dump(exclude={"user_id"}), user=data.user_id
        )


def update_roster_member(db: Database, *, member: TeamMember, data: TeamMemberUpdate) -> TeamMember:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if (
        changes.get("display_name", "") is None
        or changes.get("role", "") is None
        or changes.get("active", "") is None
    ):
        raise Conflict("display_name, role and active cannot be empty", code="required")
    if changes:
        with write_transaction(db):
            TeamMember.update(changes).where(TeamMember.id == member.id).execute()
    return TeamMember.get_by_id(member.id)
