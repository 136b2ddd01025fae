"""Devices (boxes), their cameras, and their health as the ingest last saw it."""

from __future__ import annotations

from uuid import UUID

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    TextField,
    UUIDField,
)

from cloud.models.accounts import Organisation
from cloud.models.base import (
    SEGMENT_LENGTH,
    BaseModel,
    StrEnumField,
    UtcDateTimeField,
    new_uuid_pk,
    utc_now,
)
from protocol.device import DeviceState

__all__ = ["Camera", "Device", "DeviceStatus", "HeartbeatSample"]


class Device(BaseModel):
    """A box. Its id is unique across organisations: it is the MQTT username and
    the ``{device}`` level of its topics and S3 keys (``{org}/{device}/…``)."""

    id = CharField(max_length=SEGMENT_LENGTH, primary_key=True)
    org = ForeignKeyField(Organisation, backref="devices", on_delete="RESTRICT", index=False)
    org_id: UUID
    name = TextField()
    created_at = UtcDateTimeField(default=utc_now)
    # Mosquitto's own $7$ PBKDF2 hash: the password file is generated from it.
    mqtt_password_hash = TextField()
    # The S3 secret lives only in the object store's identity config and on the
    # box; we keep the key id (to find or revoke the identity) and a SHA-256.
    s3_access_key_id = CharField(max_length=128, unique=True)
    s3_secret_hash = CharField(max_length=64)
    credentials_rotated_at = UtcDateTimeField(null=True)
    retired_at = UtcDateTimeField(null=True)  # refused by ingest and ACLs once set

    class Meta:
        indexes = ((("org", "name"), False),)

    @property
    def s3_prefix(self) -> str:
        return f"{self.org.slug}/{self.id}/"


class Camera(BaseModel):
    """A camera a device reported (status message) or an admin registered."""

    id = new_uuid_pk()
    device = ForeignKeyField(Device, backref="cameras", on_delete="CASCADE", index=False)
    device_id: str
    camera_id = CharField(max_length=SEGMENT_LENGTH)
    name = TextField(null=True)
    kind = CharField(max_length=32, null=True)
    width = IntegerField(null=True)
    height = IntegerField(null=True)
    fps = FloatField(null=True)
    first_seen_at = UtcDateTimeField(default=utc_now)
    last_seen_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("device", "camera_id"), True),)


class DeviceStatus(BaseModel):
    """One row per device: online/offline since when, and the latest heartbeat."""

    device = ForeignKeyField(Device, primary_key=True, backref="status", on_delete="CASCADE")
    device_id: str
    state = StrEnumField(DeviceState, default=DeviceState.OFFLINE)
    since = UtcDateTimeField(null=True)
    reason = TextField(null=True)
    agent_version = CharField(max_length=64, null=True)
    status_message_id = UUIDField(null=True)  # a retained re-delivery of it changes nothing
    status_received_at = UtcDateTimeField(null=True)
    # Latest heartbeat (figures for lists and alerts; the whole body in ``heartbeat``).
    heartbeat_at = UtcDateTimeField(null=True)  # its sent_at
    heartbeat_received_at = UtcDateTimeField(null=True)
    uptime_s = FloatField(null=True)
    cpu_percent = FloatField(null=True)
    load_1m = FloatField(null=True)
    memory_rss_bytes = BigIntegerField(null=True)
    soc_temp_c = FloatField(null=True)
    throttled = BooleanField(null=True)
    disk_free_bytes = BigIntegerField(null=True)
    disk_total_bytes = BigIntegerField(null=True)
    backlog_records = IntegerField(null=True)  # logs + clips + events waiting for receipts
    backlog_clip_bytes = BigIntegerField(null=True)
    oldest_unsynced_age_s = FloatField(null=True)
    evicted_unsynced_clips = IntegerField(null=True)
    clock_offset_ms = FloatField(null=True)
    heartbeat = JSONField(null=True)
    clock_skew_ms = FloatField(null=True)  # heartbeat sent_at - received_at (box - cloud)
    clip_limits = JSONField(null=True)  # protocol ClipLimits from its status


class HeartbeatSample(BaseModel):
    """Heartbeat history for charts, pruned to a bounded window per device.

    The id is the heartbeat message's UUIDv7 from the device, so a re-delivery
    is not a second point on the chart.
    """

    id = UUIDField(primary_key=True)
    device = ForeignKeyField(Device, backref="heartbeats", on_delete="CASCADE", index=False)
    device_id: str
    sent_at = UtcDateTimeField()
    received_at = UtcDateTimeField(default=utc_now)
    uptime_s = FloatField()
    cpu_percent = FloatField(null=True)
    load_1m = FloatField(null=True)
    memory_rss_bytes = BigIntegerField(null=True)
    soc_temp_c = FloatField(null=True)
    disk_free_bytes = BigIntegerField()
    backlog_records = IntegerField()
    backlog_clip_bytes = BigIntegerField()
    camera_fps = JSONField(null=True)  # {camera_id: fps}
    detection_fps = JSONField(null=True)  # {camera_id: inferences per second}

    class Meta:
        indexes = ((("device", "sent_at"), False),)
