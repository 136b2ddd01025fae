"""Peewee models of the store's tables (the schema itself is in :mod:`agent.buffer.schema`).

The models are declared unbound; :func:`bind_models` makes subclasses bound to
one store's database, so that two stores can live in one process (tests, the
benchmark) without rebinding global classes under each other's feet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from peewee import (
    AutoField,
    BinaryUUIDField,
    BooleanField,
    CompositeKey,
    Database,
    FloatField,
    IntegerField,
    Model,
    TextField,
)

__all__ = [
    "ClipRow",
    "CommandRow",
    "CounterRow",
    "DesiredRow",
    "PendingClipRow",
    "RecordRow",
    "SyncState",
    "Tables",
    "UploadPartRow",
    "bind_models",
]


class SyncState(IntEnum):
    """Where a row is on its way to the cloud. Below ACKED it is unsynced."""

    PENDING = 0  # stored; for a clip: the file is not yet in S3
    UPLOADING = 1  # clip: a multipart upload is under way (UploadId kept)
    UPLOADED = 2  # clip: file and thumbnail complete in S3; record not yet sent
    PUBLISHED = 3  # in a message the ingest has not yet receipted
    ACKED = 4  # the ingest's receipt named it: stored in the cloud
    REJECTED = 5  # the ingest (or our own check) will never accept it; reason kept
    EVICTED = 6  # clip: the file was dropped for disk space before it was uploaded


class _Base(Model):
    class Meta:
        legacy_table_names = False


class RecordRow(_Base):
    """A log record or detection event (tables ``logs`` and ``events``)."""

    seq = AutoField()
    id = BinaryUUIDField(unique=True)
    state = IntegerField(default=SyncState.PENDING)
    created_at = FloatField()
    attempts = IntegerField(default=0)
    next_attempt_at = FloatField(default=0.0)
    message_id = BinaryUUIDField(null=True)
    last_error = TextField(null=True)
    synced_at = FloatField(null=True)
    body = TextField()


class ClipRow(RecordRow):
    camera_id = TextField()
    session_id = TextField(null=True)
    started_at = FloatField()
    ended_at = FloatField()
    path = TextField()
    thumbnail_path = TextField(null=True)
    size_bytes = IntegerField()
    disk_bytes = IntegerField()
    sha256 = TextField()
    object_key = TextField()
    thumbnail_key = TextField(null=True)
    thumbnail_uploaded = BooleanField(default=False)
    upload_id = TextField(null=True)
    upload_started_at = FloatField(null=True)
    file_present = BooleanField(default=True)
    evicted_at = FloatField(null=True)

    class Meta:
        table_name = "clips"


class UploadPartRow(_Base):
    clip_id = BinaryUUIDField()
    upload_id = TextField()
    part_number = IntegerField()
    size = IntegerField()
    etag = TextField()
    checksum_sha256 = TextField()
    uploaded_at = FloatField()

    class Meta:
        table_name = "upload_parts"
        primary_key = CompositeKey("clip_id", "part_number")


class DesiredRow(_Base):
    singleton = IntegerField(primary_key=True, default=1)
    revision = IntegerField()
    body = TextField()
    received_at = FloatField()

    class Meta:
        table_name = "desired_state"


class CommandRow(_Base):
    command_id = BinaryUUIDField(primary_key=True)
    received_at = FloatField()
    expires_at = FloatField()
    status = TextField()
    ack_body = TextField()
    ack_published = BooleanField(default=False)

    class Meta:
        table_name = "handled_commands"


class PendingClipRow(_Base):
    """A clip promised to a trigger, not yet made (see agent.interfaces.sinks.ClipLedger)."""

    id = BinaryUUIDField(primary_key=True)
    camera_id = TextField()
    window_start = FloatField()
    window_end = FloatField()
    session_id = TextField(null=True)
    triggers = TextField()  # JSON list of protocol Triggers, oldest first
    width = IntegerField()
    height = IntegerField()
    created_at = FloatField()
    updated_at = FloatField()

    class Meta:
        table_name = "pending_clips"


class CounterRow(_Base):
    name = TextField(primary_key=True)
    value = IntegerField()

    class Meta:
        table_name = "counters"


M = TypeVar("M", bound=Model)


def _bound(model: type[M], database: Database, table_name: str) -> type[M]:
    meta = type("Meta", (), {"database": database, "table_name": table_name})
    bound: Any = type(model.__name__, (model,), {"Meta": meta, "__module__": __name__})
    return bound  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Tables:
    """One store's models, bound to its database."""

    logs: type[RecordRow]
    events: type[RecordRow]
    clips: type[ClipRow]
    parts: type[UploadPartRow]
    desired: type[DesiredRow]
    commands: type[CommandRow]
    counters: type[CounterRow]
    pending_clips: type[PendingClipRow]

    def records(self, kind: str) -> type[RecordRow]:
        """The table of one record kind: 'logs', 'events' or 'clips'."""
        table: type[RecordRow] = getattr(self, kind)
        return table


def bind_models(database: Database) -> Tables:
    return Tables(
        logs=_bound(RecordRow, database, "logs"),
        events=_bound(RecordRow, database, "events"),
        clips=_bound(ClipRow, database, "clips"),
        parts=_bound(UploadPartRow, database, "upload_parts"),
        desired=_bound(DesiredRow, database, "desired_state"),
        commands=_bound(CommandRow, database, "handled_commands"),
        counters=_bound(CounterRow, database, "counters"),
        pending_clips=_bound(PendingClipRow, database, "pending_clips"),
    )
