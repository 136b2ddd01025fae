"""What the cloud tells a device: desired state (retained), commands, receipts."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, JsonValue, StringConstraints, model_validator

from protocol.envelope import MAX_RECORDS_PER_BATCH, Message, WireModel
from protocol.ids import RecordId, Segment
from protocol.records import Note, RecordKind, Sha256Hex
from protocol.times import UtcDateTime

__all__ = [
    "ActiveSession",
    "ClipDefaults",
    "ClipRange",
    "Command",
    "CommandBody",
    "DesiredState",
    "DetectionToggles",
    "ModelRef",
    "Receipt",
    "Rejection",
    "ReloadConfig",
    "StartRecording",
    "StopRecording",
    "TriggerClip",
]

Seconds = Annotated[float, Field(ge=0, le=600)]
Requester = Annotated[str, StringConstraints(max_length=128)]


# --- one-shot commands -------------------------------------------------------


class TriggerClip(WireModel):
    """Clip the moment that just happened: [now - pre, now + post]."""

    type: Literal["trigger_clip"] = "trigger_clip"
    camera_id: Segment | None = Field(default=None, description="Empty: every camera.")
    pre_s: Seconds | None = Field(default=None, description="Empty: the device's default.")
    post_s: Seconds | None = None
    at: UtcDateTime | None = Field(
        default=None, description="The moment to clip; empty: when the device receives it."
    )
    note: Note | None = None
    requested_by: Requester | None = None
    session_id: UUID | None = None


class ClipRange(WireModel):
    """Clip a time range from the recording on the device (segments on disk and memory).

    The clip shows exactly ``start .. end`` (it is decoded from the keyframe before
    ``start``, which an MP4 edit list hides). ``end`` may lie ahead, up to the
    device's ``max_lag_s`` (a tag's lag): the device cuts it once that video exists.
    """

    type: Literal["clip_range"] = "clip_range"
    camera_id: Segment | None = None
    start: UtcDateTime
    end: UtcDateTime
    note: Note | None = None
    requested_by: Requester | None = None
    session_id: UUID | None = None
    at: UtcDateTime | None = Field(
        default=None, description="The moment it is about (a tag's time): the trigger's time."
    )
    log_id: UUID | None = Field(default=None, description="The log (tag) the clip is for.")
    replaces: UUID | None = Field(
        default=None, description="A re-trim: the clip the new one replaces."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ClipRange:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.at is not None and not self.start <= self.at <= self.end:
            raise ValueError("at must lie between start and end")
        return self


class StartRecording(WireModel):
    type: Literal["start_recording"] = "start_recording"
    camera_id: Segment | None = None


class StopRecording(WireModel):
    type: Literal["stop_recording"] = "stop_recording"
    camera_id: Segment | None = None


class ReloadConfig(WireModel):
    type: Literal["reload_config"] = "reload_config"


CommandBody = Annotated[
    TriggerClip | ClipRange | StartRecording | StopRecording | ReloadConfig,
    Field(discriminator="type"),
]


class Command(Message):
    """One command for one device, acknowledged by a :class:`protocol.device.CommandAck`."""

    command_id: RecordId
    issued_at: UtcDateTime
    expires_at: UtcDateTime = Field(description="A device refuses the command after this.")
    command: CommandBody

    @model_validator(mode="after")
    def _expiry_after_issue(self) -> Command:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        return self


# --- retained desired state --------------------------------------------------


class ActiveSession(WireModel):
    session_id: UUID
    name: str = Field(max_length=200)
    form_id: UUID | None = None
    form_version: int | None = Field(default=None, ge=1)
    form_fields: list[dict[str, JsonValue]] | None = Field(
        default=None, description="The form's field definitions, for the box's LAN logger."
    )


class CameraToggle(WireModel):
    enabled: bool = True
    classes: list[str] | None = Field(default=None, description="Empty: the model's classes.")


class DetectionToggles(WireModel):
    enabled: bool = True
    classes: list[str] | None = None
    cameras: dict[Segment, CameraToggle] = Field(default_factory=dict)


class ClipDefaults(WireModel):
    pre_s: Seconds | None = None
    post_s: Seconds | None = None


class ModelRef(WireModel):
    """A detection model the device should run, fetched and verified by sha256."""

    url: str | None = Field(default=None, max_length=2048)
    s3_key: str | None = Field(default=None, max_length=512)
    sha256: Sha256Hex
    manifest: dict[str, JsonValue] | None = None

    @model_validator(mode="after")
    def _one_location(self) -> ModelRef:
        if (self.url is None) == (self.s3_key is None):
            raise ValueError("exactly one of url and s3_key must be set")
        return self


class DesiredState(Message):
    """Retained: what the device should be doing. A device ignores an older revision."""

    revision: int = Field(ge=0, description="Increases with every change.")
    session: ActiveSession | None = None
    detection: DetectionToggles = Field(default_factory=DetectionToggles)
    clip_defaults: ClipDefaults = Field(default_factory=ClipDefaults)
    recording: bool | None = Field(default=None, description="Continuous recording; empty: config.")
    model: ModelRef | None = None


# --- receipts ----------------------------------------------------------------


class Rejection(WireModel):
    id: UUID
    reason: str = Field(max_length=500)


class Receipt(Message):
    """Sent by the ingest after its database commit: these records are stored.

    ``stored`` includes ids that were already stored (a re-send). ``rejected``
    names records the cloud will never accept, so the device stops re-sending them.
    """

    kind: RecordKind
    for_message_id: UUID
    stored: list[UUID] = Field(default_factory=list, max_length=MAX_RECORDS_PER_BATCH)
    rejected: list[Rejection] = Field(default_factory=list, max_length=MAX_RECORDS_PER_BATCH)
