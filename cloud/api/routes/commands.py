"""Device commands (phone-triggered clips) and their progress."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path

from cloud.api.deps import MemberScope, SessionInOrg
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.commands import CommandPublic, CommandsPublic
from cloud.api.services import commands as service

router = APIRouter(route_class=DocumentedRoute, tags=["commands"])


@router.get("/sessions/{session_id}/commands")
def list_session_commands(scope: MemberScope, session: SessionInOrg) -> CommandsPublic:
    """The session's commands, newest first (at most 200)."""
    rows = service.list_commands(scope=scope, session=session)
    return CommandsPublic(data=service.commands_public(rows), count=len(rows))


@router.get("/commands/{command_id}")
def read_command(scope: MemberScope, command_id: Annotated[UUID, Path()]) -> CommandPublic:
    """Where the command is: sent, acknowledged, done, clip_uploaded, refused, failed or expired."""
    return service.commands_public([service.get_command(scope=scope, command_id=command_id)])[0]
