"""What the cloud tells devices: desired state (retained) and one-shot commands."""

from __future__ import annotations

from uuid import UUID

from peewee import (
    CharField,
    Check,
    ForeignKeyField,
    IntegerField,
    JSONField,
    TextField,
    UUIDField,
)

from cloud.models.accounts import Organisation, User
from cloud.models.base import BaseModel, StrEnumField, UtcDateTimeField, new_uuid_pk, utc_now
from cloud.models.devices import Device
from cloud.models.enums import CommandState
from cloud.models.sessions import Session
from protocol.device import AckStatus

__all__ = ["Command", "CommandAckRecord", "DesiredStateRecord"]


class DesiredStateRecord(BaseModel):
    """The retained desired state of one device; ``revision`` goes up on every change."""

    device = ForeignKeyField(Device, primary_key=True, backref="desired", on_delete="CASCADE")
    device_id: str
    revision = IntegerField(default=0, constraints=[Check("revision >= 0")])
    state = JSONField()  # DesiredState's body: session, detection, clip_defaults, recording, model
    updated_at = UtcDateTimeField(default=utc_now)
    updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    updated_by_id: UUID | None
    published_revision = IntegerField(null=True)  # last revision the broker took
    published_at = UtcDateTimeField(null=True)
    publish_error = TextField(null=True)

    class Meta:
        table_name = "desired_state"


class Command(BaseModel):
    """One command to one device. Its id is the wire ``command_id``."""

    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="commands", on_delete="CASCADE", index=False)
    org_id: UUID
    device = ForeignKeyField(Device, backref="commands", on_delete="CASCADE", index=False)
    device_id: str
    session = ForeignKeyField(
        Session, null=True, backref="commands", on_delete="SET NULL", index=False
    )
    session_id: UUID | None
    type = CharField(max_length=32)  # the body's discriminator: trigger_clip, clip_range, ...
    body = JSONField()
    state = StrEnumField(CommandState, default=CommandState.PENDING)
    reason = TextField(null=True)
    result = JSONField(null=True)  # the device's, e.g. {"clip_ids": [...]}
    requested_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    requested_by_id: UUID | None
    issued_at = UtcDateTimeField(default=utc_now)
    expires_at = UtcDateTimeField()
    sent_at = UtcDateTimeField(null=True)
    acknowledged_at = UtcDateTimeField(null=True)
    finished_at = UtcDateTimeField(null=True)
    log_id = UUIDField(null=True)  # a tag's clip request: the log it is for

    class Meta:
        indexes = (
            (("device", "issued_at"), False),
            (("session", "issued_at"), False),
            (("org", "issued_at"), False),
            (("state", "expires_at"), False),
            (("log_id",), False),
        )


class CommandAckRecord(BaseModel):
    """Every acknowledgement a device sent; the id is its message's UUIDv7."""

    id = UUIDField(primary_key=True)
    command = ForeignKeyField(Command, backref="acks", on_delete="CASCADE", index=False)
    command_id: UUID
    device = ForeignKeyField(Device, on_delete="CASCADE")
    device_id: str
    status = StrEnumField(AckStatus)
    reason = TextField(null=True)
    result = JSONField(null=True)
    sent_at = UtcDateTimeField()
    received_at = UtcDateTimeField(default=utc_now)

    class Meta:
        table_name = "command_ack"
        indexes = ((("command", "sent_at"), False),)
