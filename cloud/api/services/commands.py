"""Clips triggered from a phone: one ``trigger_clip`` command per recording device,
and where each command is (sent, acknowledged, clip uploaded, failed, ...)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import cast
from uuid import UUID

from cloud.api.access.scope import OrgScope
from cloud.api.query.rows import fk_id
from cloud.api.schemas.commands import ClipTrigger, CommandProgress, CommandPublic
from cloud.devices.control import DeviceControl
from cloud.errors import Conflict, NotFound
from cloud.models import (
    Clip,
    ClipStatus,
    Command,
    CommandState,
    Device,
    Session,
    SessionDevice,
    SessionStatus,
    utc_now,
)
from protocol.control import TriggerClip

__all__ = ["commands_public", "get_command", "list_commands", "trigger_clip"]


def trigger_clip(
    *,
    scope: OrgScope,
    session: Session,
    data: ClipTrigger,
    control: DeviceControl,
    ttl: timedelta,
) -> list[Command]:
    if session.status != SessionStatus.LIVE:
        raise Conflict(
            f"clips are triggered while a session is live, not while {session.status}",
            code="session_not_live",
        )
    query = (
        SessionDevice.select(SessionDevice, Device)
        .join(Device, on=(SessionDevice.device == Device.id))
        .where(SessionDevice.session == session.id)
        .order_by(SessionDevice.created_at, SessionDevice.id)
    )
    if data.device_id is not None:
        query = query.where(SessionDevice.device == data.device_id)
    targets = list(query)
    if not targets:
        if data.device_id is not None:
            raise NotFound("device of this session", data.device_id, path="body.device_id")
        raise Conflict("the session has no recording device; add one first", code="no_devices")
    now = utc_now()
    commands = []
    for target in targets:
        body = TriggerClip(
            camera_id=data.camera_id or target.camera_id,
            pre_s=data.pre_s,
            post_s=data.post_s,
            at=now,
            note=data.note,
            requested_by=str(scope.user_id),
            session_id=session.id,
        )
        commands.append(
            control.send_command(
                target.device.id,
                body,
                ttl_s=ttl.total_seconds(),
                session=session.id,
                requested_by=scope.user_id,
            )
        )
    return commands


def list_commands(*, scope: OrgScope, session: Session) -> list[Command]:
    return list(
        Command.select()
        .where((Command.org == scope.org_id) & (Command.session == session.id))
        .order_by(Command.issued_at.desc(), Command.id.desc())
        .limit(200)
    )


def get_command(*, scope: OrgScope, command_id: UUID) -> Command:
    row = Command.get_or_none((Command.id == command_id) & (Command.org == scope.org_id))
    if row is None:
        raise NotFound("command", command_id)
    return row


def _ready_clips(commands: Sequence[Command]) -> dict[UUID, list[UUID]]:
    """Visible clips made for each command (by the clip's command, or the ack's clip_ids)."""
    named: dict[UUID, UUID] = {}
    for command in commands:
        for clip_id in (command.result or {}).get("clip_ids", []) or []:
            try:
                named[UUID(str(clip_id))] = command.id
            except ValueError:
                continue
    ids = [command.id for command in commands]
    condition = (
        (Clip.org == fk_id(commands[0], "org"))
        & (Clip.status == ClipStatus.READY)
        & Clip.deleted_at.is_null()
    )
    related = Clip.command.in_(ids)
    if named:
        related |= Clip.id.in_(list(named))
    found: dict[UUID, list[UUID]] = defaultdict(list)
    rows = Clip.select(Clip.id, Clip.command).where(condition & related).tuples()
    for clip_id, command_id in cast(Iterable[tuple[UUID, UUID | None]], rows):
        owner = command_id or named.get(clip_id)
        if owner is not None and clip_id not in found[owner]:
            found[owner].append(clip_id)
    return found


def _progress(command: Command, clip_ids: list[UUID]) -> CommandProgress:
    state = CommandState(command.state)
    if clip_ids:
        return CommandProgress.CLIP_UPLOADED
    if state in (
        CommandState.REFUSED,
        CommandState.FAILED,
        CommandState.EXPIRED,
        CommandState.DONE,
    ):
        return CommandProgress(state.value)
    if command.expires_at <= utc_now() and state is not CommandState.ACKNOWLEDGED:
        return CommandProgress.EXPIRED  # nobody answered in time; the device will refuse it
    return CommandProgress(state.value)


def commands_public(commands: Sequence[Command]) -> list[CommandPublic]:
    clips = _ready_clips(commands) if commands else {}
    return [
        CommandPublic(
            id=command.id,
            device_id=fk_id(command, "device"),
            session_id=fk_id(command, "session"),
            type=command.type,
            state=command.state,
            progress=_progress(command, clips.get(command.id, [])),
            reason=command.reason,
            body=command.body,
            result=command.result,
            clip_ids=clips.get(command.id, []),
            issued_at=command.issued_at,
            expires_at=command.expires_at,
            sent_at=command.sent_at,
            acknowledged_at=command.acknowledged_at,
            finished_at=command.finished_at,
        )
        for command in commands
    ]
