"""Records a device produces and the cloud stores: logs, clips, detection events.

Each record's ``id`` is a UUIDv7 minted on the device; the cloud keeps it as the
primary key, which is what makes re-sending harmless. Records travel in batches
(one channel per kind) and are acknowledged by a :class:`protocol.control.Receipt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from protocol.data import JsonData
from protocol.envelope import MAX_RECORDS_PER_BATCH, Message, WireModel
from protocol.ids import ObjectKey, RecordId, Segment
from protocol.times import UtcDateTime

__all__ = [
    "ClipBatch",
    "ClipFailure",
    "ClipFailureReason",
    "ClipRecord",
    "ClipWindow",
    "DetectionEvent",
    "DetectionEventKind",
    "EventBatch",
    "LogBatch",
    "LogRecord",
    "LogSource",
    "RecordKind",
    "Sha256Hex",
    "Trigger",
    "TriggerSource",
]

RecordKind = Literal["logs", "clips", "events"]

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Note = Annotated[str, StringConstraints(max_length=500)]


class TriggerSource(StrEnum):
    """What asked for a clip."""

    BUTTON = "button"  # hardware button on the box (GPIO)
    LAN = "lan"  # a phone on the field's LAN, through the box's HTTP endpoint
    CLOUD = "cloud"  # a command from the cloud (dashboard or phone app)
    RULE = "rule"  # a detection rule
    MANUAL = "manual"  # an operator on the box (CLI)


class Trigger(WireModel):
    source: TriggerSource
    at: UtcDateTime = Field(description="When the trigger happened (the T of T - pre .. T + post).")
    by: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="Who or what: a user id, 'gpio17', a rule name."
    )
    note: Note | None = None
    command_id: UUID | None = Field(
        default=None, description="The cloud command that caused it, when source is 'cloud'."
    )


class LogSource(StrEnum):
    MARKER = "marker"  # a coach's marker (long press, LAN button)
    DETECTION = "detection"  # a summary written by the detector
    SYSTEM = "system"  # the agent itself (camera lost, disk full, ...)


class ClipWindow(WireModel):
    """A tag's clip: ``[occurred_at - lead_s, occurred_at + lag_s]`` from every camera."""

    lead_s: float = Field(ge=0, le=3600, description="Seconds before the tagged moment.")
    lag_s: float = Field(ge=0, le=600, description="Seconds after it.")


class LogRecord(WireModel):
    id: RecordId
    session_id: UUID | None = Field(
        default=None, description="Active session when logged; the cloud assigns one if empty."
    )
    camera_id: Segment | None = None
    occurred_at: UtcDateTime
    source: LogSource
    type: ShortText = Field(description="Short label, e.g. 'marker', 'camera_lost'.")
    data: JsonData = Field(default_factory=dict)
    clip: ClipWindow | None = Field(
        default=None,
        description="A tag: the device clipped this window from its own cameras (clips "
        "naming this log's id); the cloud asks the session's other devices for it too.",
    )


class ClipFailureReason(StrEnum):
    """Why a promised clip could not be made."""

    POWER_LOST = "power_lost"  # the box stopped (power cut, crash) before the clip was complete
    NO_VIDEO = "no_video"  # the camera gave no video for the window
    WRITE_FAILED = "write_failed"  # the file could not be written (the disk stayed full)


class ClipFailure(WireModel):
    reason: ClipFailureReason
    message: Note = Field(description="What happened, in words for the coach.")


class ClipRecord(WireModel):
    """A clip whose MP4 (and thumbnail) are already complete in the object store, or,
    with ``failure``, a clip the box promised and could not make (no object exists).

    A failed clip keeps what the press asked for (its id, camera, window as
    ``started_at``..``ended_at``, triggers, session) so that the coach sees on the
    timeline what happened to it; it has no ``object_key``, ``thumbnail_key`` or
    ``sha256``, and ``size_bytes``, ``duration_ms`` and ``frame_count`` are 0 (``width``
    and ``height`` too when the camera's size was not known).
    (Added within protocol version 1: an ingest that predates it refuses such a
    record by id; deploy the cloud first.)
    """

    id: RecordId
    session_id: UUID | None = None
    camera_id: Segment
    started_at: UtcDateTime = Field(description="Time of the first frame (a keyframe).")
    ended_at: UtcDateTime = Field(description="Time of the last frame.")
    triggers: list[Trigger] = Field(
        min_length=1, description="Every trigger merged into this clip, oldest first."
    )
    object_key: ObjectKey | None = Field(
        default=None,
        description="Under '{org}/{device}/'; normal form (no '..'). Absent only for a failed clip.",
    )
    thumbnail_key: ObjectKey | None = None
    content_type: Literal["video/mp4"] = "video/mp4"
    size_bytes: int = Field(ge=0)
    sha256: Sha256Hex | None = Field(
        default=None,
        description="SHA-256 of the whole MP4 file, lowercase hex. Absent only for a failed clip.",
    )
    duration_ms: int = Field(ge=0)
    frame_count: int | None = Field(default=None, ge=0)
    width: int = Field(ge=0, description="Pixels; 0 only for a failed clip of unknown size.")
    height: int = Field(ge=0)
    codec: Literal["h264"] = "h264"
    log_id: UUID | None = Field(
        default=None, description="The log (a tag) this clip was cut for, if any."
    )
    replaces: UUID | None = Field(
        default=None, description="The clip this one re-trims (the cloud swaps them once verified)."
    )
    clock_offset_ms: float | None = Field(
        default=None,
        description="The device's clock offset as its heartbeat reports it, when the clip was cut.",
    )
    failure: ClipFailure | None = Field(
        default=None, description="Set when the box could not make the clip, with why."
    )

    @model_validator(mode="after")
    def _times_in_order(self) -> ClipRecord:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self

    @model_validator(mode="after")
    def _an_object_or_a_failure(self) -> ClipRecord:
        if self.failure is None:
            if self.object_key is None or self.sha256 is None:
                raise ValueError(
                    "a clip needs its object_key and sha256 (or a failure saying why it has none)"
                )
            if self.width <= 0 or self.height <= 0:
                raise ValueError("a clip's width and height must be positive")
        elif (
            self.object_key is not None
            or self.thumbnail_key is not None
            or self.sha256 is not None
            or self.size_bytes
            or self.duration_ms
            or self.frame_count
        ):
            raise ValueError(
                "a failed clip has no object: leave out object_key, thumbnail_key and sha256, "
                "and give size_bytes, duration_ms and frame_count as 0"
            )
        return self


class DetectionEventKind(StrEnum):
    ENTER = "enter"  # a tracked object entered a zone (or the frame)
    LEAVE = "leave"
    COUNT = "count"  # objects of a class in a zone over an interval
    RULE = "rule"  # a rule fired (and perhaps triggered a clip)


class DetectionEvent(WireModel):
    id: RecordId
    session_id: UUID | None = None
    camera_id: Segment
    occurred_at: UtcDateTime
    kind: DetectionEventKind
    label: ShortText = Field(description="Class name, e.g. 'person', 'ball'.")
    track_id: int | None = Field(default=None, ge=0)
    zone: ShortText | None = None
    count: int | None = Field(default=None, ge=0)
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    box: tuple[float, float, float, float] | None = Field(
        default=None, description="x1, y1, x2, y2 as fractions of the frame (0..1)."
    )
    rule: ShortText | None = None
    clip_id: UUID | None = Field(default=None, description="The clip a rule triggered, if any.")
    data: JsonData = Field(default_factory=dict)


def _check_unique_ids(records: Sequence[LogRecord | DetectionEvent | ClipRecord]) -> None:
    # A second copy of an id in one batch would be dropped by the insert (or win
    # over the first): refuse the batch instead, so the copy is named, not lost.
    seen: dict[int, int] = {}
    for index, record in enumerate(records):
        first = seen.setdefault(record.id.int, index)
        if first != index:
            raise ValueError(f"records.{index}.id repeats records.{first}.id ({record.id})")


class LogBatch(Message):
    records: list[LogRecord] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)

    @model_validator(mode="after")
    def _unique_ids(self) -> LogBatch:
        _check_unique_ids(self.records)
        return self


class EventBatch(Message):
    records: list[DetectionEvent] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)

    @model_validator(mode="after")
    def _unique_ids(self) -> EventBatch:
        _check_unique_ids(self.records)
        return self


class ClipBatch(Message):
    records: list[ClipRecord] = Field(min_length=1, max_length=MAX_RECORDS_PER_BATCH)

    @model_validator(mode="after")
    def _unique_ids(self) -> ClipBatch:
        _check_unique_ids(self.records)
        return self

    @model_validator(mode="after")
    def _keys_under_device_prefix(self) -> ClipBatch:
        # A device may only point at objects under its own prefix; the storage
        # credentials enforce the same rule for writes.
        prefix = f"{self.org}/{self.device_id}/"
        for index, record in enumerate(self.records):
            for field, key in (
                ("object_key", record.object_key),
                ("thumbnail_key", record.thumbnail_key),
            ):
                if key is not None and not key.startswith(prefix):
                    raise ValueError(f"records.{index}.{field} {key!r} is not under {prefix!r}")
        return self
