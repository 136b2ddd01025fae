"""Teams and their rosters."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, status

from cloud.api.deps import AdminScope, CoachScope, DatabaseDep, MemberScope, TeamInOrg
from cloud.api.openapi import DocumentedRoute
from cloud.api.query.rows import fk_id
from cloud.api.schemas.accounts import (
    TeamCreate,
    TeamMemberCreate,
    TeamMemberPublic,
    TeamMembersPublic,
    TeamMemberUpdate,
    TeamPublic,
    TeamsPublic,
    TeamUpdate,
)
from cloud.api.services import teams as service
from cloud.models import TeamMember

router = APIRouter(prefix="/teams", route_class=DocumentedRoute, tags=["teams"])


def _member(row: TeamMember) -> TeamMemberPublic:
    return TeamMemberPublic(
        id=row.id,
        team_id=fk_id(row, "team"),
        user_id=fk_id(row, "user"),
        display_name=row.display_name,
        number=row.number,
        position=row.position,
        role=row.role,
        active=row.active,
    )


def roster_member_in_team(team: TeamInOrg, member_id: Annotated[UUID, Path()]) -> TeamMember:
    return service.get_roster_member(team=team, member_id=member_id)


RosterMemberInTeam = Annotated[TeamMember, Depends(roster_member_in_team)]


@router.get("")
def list_teams(scope: MemberScope, include_archived: bool = False) -> TeamsPublic:
    rows = service.list_teams(scope=scope, include_archived=include_archived)
    return TeamsPublic(data=[TeamPublic.model_validate(row) for row in rows], count=len(rows))


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={409: {"description": "Name taken."}}
)
def create_team(scope: AdminScope, db: DatabaseDep, data: TeamCreate) -> TeamPublic:
    return TeamPublic.model_validate(service.create_team(db, scope=scope, data=data))


@router.get("/{team_id}")
def read_team(scope: MemberScope, team: TeamInOrg) -> TeamPublic:
    return TeamPublic.model_validate(team)


@router.patch("/{team_id}", responses={409: {"description": "Name taken."}})
def update_team(
    scope: AdminScope, db: DatabaseDep, team: TeamInOrg, data: TeamUpdate
) -> TeamPublic:
    return TeamPublic.model_validate(service.update_team(db, team=team, data=data))


@router.delete("/{team_id}", status_code=status.HTTP_204_NO_CONTENT)
def archive_team(scope: AdminScope, db: DatabaseDep, team: TeamInOrg) -> None:
    """Archive: the team leaves pickers; its sessions, forms and roster stay."""
    service.archive_team(db, team=team)


@router.get("/{team_id}/roster")
def list_roster(
    scope: MemberScope,
    team: TeamInOrg,
    include_inactive: Annotated[bool, Query()] = False,
) -> TeamMembersPublic:
    rows = service.list_roster(team=team, include_inactive=include_inactive)
    return TeamMembersPublic(data=[_member(row) for row in rows], count=len(rows))


@router.post("/{team_id}/roster", status_code=status.HTTP_201_CREATED)
def add_roster_member(
    scope: CoachScope, db: DatabaseDep, team: TeamInOrg, data: TeamMemberCreate
) -> TeamMemberPublic:
    return _member(service.add_roster_member(db, scope=scope, team=team, data=data))


@router.patch("/{team_id}/roster/{member_id}")
def update_roster_member(
    scope: CoachScope, db: DatabaseDep, member: RosterMemberInTeam, data: TeamMemberUpdate
) -> TeamMemberPublic:
    """Edit a roster entry; ``active: false`` takes someone off the roster (old logs keep them)."""
    return _member(service.update_roster_member(db, member=member, data=data))
