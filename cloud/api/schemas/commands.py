"""Phone-triggered clips and the device commands that carry them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from cloud.api.schemas.common import Input, Output, StoredJson
from cloud.models import CommandState
from protocol.ids import Segment

__all__ = [
    "ClipTrigger",
    "ClipTriggerAccepted",
    "CommandProgress",
    "CommandPublic",
    "CommandsPublic",
]


class ClipTrigger(Input):
    """Clip what just happened on the session's device(s): [now - pre, now + post]."""

    device_id: Segment | None = Field(
        default=None, description="Empty: every device of the session."
    )
    camera_id: Segment | None = Field(default=None, description="Empty: every camera.")
    pre_s: float | None = Field(default=None, ge=0, le=600, description="Empty: device default.")
    post_s: float | None = Field(default=None, ge=0, le=600)
    note: str | None = Field(default=None, max_length=500)


class CommandProgress(StrEnum):
    """Where a command is, as a phone shows it."""

    PENDING = "pending"  # recorded, not yet taken by the broker
    SENT = "sent"  # the broker has it; the device has not answered yet
    ACKNOWLEDGED = "acknowledged"  # the device accepted it (recording the post-roll)
    DONE = "done"  # the device made the clip; it is not in the cloud yet
    CLIP_UPLOADED = "clip_uploaded"  # a clip it made is stored, verified and on the timeline
    REFUSED = "refused"  # the device would not (expired on arrival, unknown camera, ...)
    FAILED = "failed"  # publishing or carrying it out failed; see reason
    EXPIRED = "expired"  # no answer before expires_at


class CommandPublic(Output):
    id: UUID
    device_id: str
    session_id: UUID | None
    type: str
    state: CommandState = Field(description="The command's own state, as recorded.")
    progress: CommandProgress = Field(description="state, plus whether its clip has arrived.")
    reason: str | None
    body: dict[str, StoredJson]
    result: dict[str, StoredJson] | None
    clip_ids: list[UUID] = Field(description="Clips made for it that are on the timeline.")
    issued_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None
    finished_at: datetime | None


class CommandsPublic(Output):
    data: list[CommandPublic]
    count: int


class ClipTriggerAccepted(Output):
    command_ids: list[UUID] = Field(description="One command per device; poll them for progress.")
    commands: list[CommandPublic]
