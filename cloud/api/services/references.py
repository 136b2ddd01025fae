"""Resolving ids a request names (team, host, form, devices, member) within the org.

An id of another organisation is "not found", exactly like an id that does not
exist: the caller learns nothing about other organisations.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from cloud.api.access.scope import OrgScope
from cloud.errors import FieldProblem, InvalidInput, NotFound
from cloud.models import (
    ROLE_RANK,
    Device,
    FormTemplate,
    Membership,
    Role,
    Team,
    TeamMember,
    User,
)

__all__ = ["device_in_org", "form_in_org", "host_in_org", "member_user_in_org", "team_in_org"]


def team_in_org(*, scope: OrgScope, team_id: UUID, path: str = "body.team_id") -> Team:
    team = Team.get_or_none((Team.id == team_id) & (Team.org == scope.org_id))
    if team is None:
        raise NotFound("team", team_id, path=path)
    return team


def form_in_org(
    *, scope: OrgScope, form_id: UUID, path: str = "body.form_template_id"
) -> FormTemplate:
    form = FormTemplate.get_or_none(
        (FormTemplate.id == form_id) & (FormTemplate.org == scope.org_id)
    )
    if form is None:
        raise NotFound("form", form_id, path=path)
    return form


def member_user_in_org(*, scope: OrgScope, user_id: UUID, path: str) -> tuple[User, Membership]:
    membership = (
        Membership.select(Membership, User)
        .join(User)
        .where((Membership.org == scope.org_id) & (Membership.user == user_id))
        .first()
    )
    if membership is None:
        raise NotFound("member", user_id, path=path)
    return membership.user, membership


def host_in_org(*, scope: OrgScope, user_id: UUID, path: str = "body.host_id") -> User:
    user, membership = member_user_in_org(scope=scope, user_id=user_id, path=path)
    if ROLE_RANK[Role(membership.role)] < ROLE_RANK[Role.HOST]:
        message = "the host must be a coach, host, admin or owner of the organisation"
        raise InvalidInput(
            message, fields=[FieldProblem(path=path, code="not_a_host", message=message)]
        )
    return user


def device_in_org(*, scope: OrgScope, device_id: str, path: str) -> Device:
    device = Device.get_or_none((Device.id == device_id) & (Device.org == scope.org_id))
    if device is None:
        raise NotFound("device", device_id, path=path)
    if device.retired_at is not None:
        message = f"device {device_id} is retired"
        raise InvalidInput(
            message, fields=[FieldProblem(path=path, code="retired", message=message)]
        )
    return device


def roster_of(team_id: UUID | None) -> dict[UUID, str] | None:
    """Active roster members of a team (id -> team role), for ``player`` fields."""
    if team_id is None:
        return None
    rows = TeamMember.select(TeamMember.id, TeamMember.role).where(
        (TeamMember.team == team_id) & TeamMember.active
    )
    return {row.id: str(row.role) for row in rows}


def unique_devices(refs: Sequence[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    seen: list[tuple[str, str | None]] = []
    for ref in refs:
        if ref not in seen:
            seen.append(ref)
    return seen
