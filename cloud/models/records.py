"""What devices (and the coach's logger) put on a session's timeline: logs,
clips and detection events. Each device record keeps its UUIDv7 as primary key.

Every table has ``(session, time, id)`` for the timeline's keyset pagination and
``(device, time)`` for a device's records; clips also ``(org, time, id)`` for the
organisation's clip library.

Logs and detection events arrive by the ten thousand per second, so their
``org`` and ``device`` are not enforced by the database (see
:class:`UnenforcedForeignKey`): the ingest takes both from the device registry
in the same transaction, and the two per-row checks cost 40 % of the insert
(measured, ``bench/ingest.py``; migration ``v0002``).
"""

from __future__ import annotations

from uuid import UUID

from peewee import (
    BigIntegerField,
    CharField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    TextField,
    UUIDField,
)

from cloud.models.accounts import Organisation, User
from cloud.models.base import (
    SEGMENT_LENGTH,
    BaseModel,
    StrEnumField,
    UnenforcedForeignKey,
    UtcDateTimeField,
    utc_now,
)
from cloud.models.control import Command
from cloud.models.devices import Device
from cloud.models.enums import ClipStatus, LogOrigin
from cloud.models.forms import FormVersion
from cloud.models.sessions import Session
from protocol.records import DetectionEventKind

__all__ = ["Clip", "DetectionEventRecord", "Log"]


class Log(BaseModel):
    id = UUIDField(primary_key=True)  # the device's UUIDv7, or one minted by the API
    org = UnenforcedForeignKey(Organisation, index=False)
    org_id: UUID
    session = ForeignKeyField(Session, null=True, backref="logs", on_delete="SET NULL", index=False)
    session_id: UUID | None
    device = UnenforcedForeignKey(Device, null=True, index=False)
    device_id: str | None
    camera_id = CharField(max_length=SEGMENT_LENGTH, null=True)
    origin = StrEnumField(LogOrigin)
    source = CharField(max_length=32)  # device: marker|detection|system; api: e.g. "coach"
    type = CharField(max_length=64)
    occurred_at = UtcDateTimeField()
    received_at = UtcDateTimeField(default=utc_now)
    author = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    author_id: UUID | None
    form_version = ForeignKeyField(FormVersion, null=True, on_delete="SET NULL", index=False)
    form_version_id: UUID | None
    data = JSONField(default=dict)
    message_id = UUIDField(null=True)  # the MQTT message that brought it
    updated_at = UtcDateTimeField(null=True)
    deleted_at = UtcDateTimeField(null=True)
    # A tag: clips of [occurred_at - lead, occurred_at + lag] from every camera of its
    # session; ``clips_requested_at`` once the devices were asked (cloud.tagging).
    clip_lead_s = FloatField(null=True)
    clip_lag_s = FloatField(null=True)
    clips_requested_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = (
            (("session", "occurred_at", "id"), False),
            (("device", "occurred_at"), False),
        )


class Clip(BaseModel):
    """A clip whose MP4 is in the object store under ``{org}/{device}/``.

    Visible (playable, on the timeline) only when ``status`` is ``ready`` and it
    is not deleted; see :class:`cloud.models.enums.ClipStatus`.
    """

    id = UUIDField(primary_key=True)
    org = ForeignKeyField(Organisation, on_delete="CASCADE", index=False)
    org_id: UUID
    device = ForeignKeyField(Device, on_delete="RESTRICT", index=False)
    device_id: str
    session = ForeignKeyField(
        Session, null=True, backref="clips", on_delete="SET NULL", index=False
    )
    session_id: UUID | None
    camera_id = CharField(max_length=SEGMENT_LENGTH)
    started_at = UtcDateTimeField()
    ended_at = UtcDateTimeField()
    duration_ms = IntegerField()
    frame_count = IntegerField(null=True)
    width = IntegerField()
    height = IntegerField()
    codec = CharField(max_length=16)
    content_type = CharField(max_length=64)
    object_key = TextField()
    thumbnail_key = TextField(null=True)
    size_bytes = BigIntegerField()
    sha256 = CharField(max_length=64)
    triggers = JSONField()  # protocol Trigger list, oldest first
    trigger_source = CharField(max_length=16)  # the first trigger's: button, lan, cloud, rule
    triggered_at = UtcDateTimeField()  # the first trigger's moment
    command = ForeignKeyField(Command, null=True, backref="clips", on_delete="SET NULL")
    command_id: UUID | None
    status = StrEnumField(ClipStatus, default=ClipStatus.PENDING)
    failure_reason = TextField(null=True)
    verify_attempts = IntegerField(default=0)
    next_verify_at = UtcDateTimeField(null=True)
    verified_at = UtcDateTimeField(null=True)
    message_id = UUIDField(null=True)  # the latest message that carried it (for its receipt)
    received_at = UtcDateTimeField(default=utc_now)
    title = TextField(null=True)
    tags = JSONField(default=list)
    deleted_at = UtcDateTimeField(null=True)
    deleted_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
    deleted_by_id: UUID | None
    # Not foreign keys: a box's clip may arrive before the log it was cut for.
    log_id = UUIDField(null=True)  # the tag (log) it was cut for
    replaces_id = UUIDField(null=True)  # a re-trim: the clip this one replaces
    replaced_by_id = UUIDField(null=True)  # set once its re-trim is ready
    clock_offset_ms = FloatField(null=True)  # the box's own, from its heartbeat's clock
    clock_skew_ms = FloatField(null=True)  # box clock - cloud clock, seen on heartbeats

    class Meta:
        indexes = (
            (("session", "started_at", "id"), False),
            (("org", "started_at", "id"), False),
            (("device", "started_at"), False),
            (("status", "next_verify_at"), False),
            (("log_id",), False),
        )


class DetectionEventRecord(BaseModel):
    id = UUIDField(primary_key=True)
    org = UnenforcedForeignKey(Organisation, index=False)
    org_id: UUID
    device = UnenforcedForeignKey(Device, index=False)
    device_id: str
    session = ForeignKeyField(
        Session, null=True, backref="detection_events", on_delete="SET NULL", index=False
    )
    session_id: UUID | None
    camera_id = CharField(max_length=SEGMENT_LENGTH)
    occurred_at = UtcDateTimeField()
    kind = StrEnumField(DetectionEventKind)
    label = CharField(max_length=64)
    track_id = BigIntegerField(null=True)
    zone = CharField(max_length=64, null=True)
    count = IntegerField(null=True)
    score = FloatField(null=True)
    box = JSONField(null=True)  # [x1, y1, x2, y2] as fractions of the frame
    rule = CharField(max_length=64, null=True)
    clip_id = UUIDField(null=True)  # the clip a rule triggered; it may arrive later
    data = JSONField(default=dict)
    message_id = UUIDField(null=True)
    received_at = UtcDateTimeField(default=utc_now)

    class Meta:
        table_name = "detection_event"
        indexes = (
            (("session", "occurred_at", "id"), False),
            (("device", "occurred_at"), False),
        )
