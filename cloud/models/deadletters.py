"""Payloads the ingest could not accept, kept (bounded) for a person to look at, and
the deliveries it is working on a second time (to recognise a message that keeps
stopping the worker)."""

from __future__ import annotations

from peewee import BlobField, BooleanField, CharField, IntegerField, TextField, UUIDField

from cloud.models.base import SEGMENT_LENGTH, BaseModel, UtcDateTimeField, new_uuid_pk, utc_now

__all__ = ["DeadLetter", "IngestAttempt"]


class DeadLetter(BaseModel):
    """One refused message (or refused records of one message).

    ``org`` and ``device_id`` are what the topic said, not foreign keys: the
    device may be unknown, which can be the very reason it is here.
    """

    id = new_uuid_pk()
    received_at = UtcDateTimeField(default=utc_now)
    topic = TextField()
    org = CharField(max_length=SEGMENT_LENGTH, null=True)
    device_id = CharField(max_length=SEGMENT_LENGTH, null=True)
    channel = CharField(max_length=16, null=True)
    code = CharField(max_length=32)  # not_json, schema, unsupported_version, too_large, ...
    reason = TextField()
    payload = BlobField()  # the first bytes of the payload (see payload_size)
    payload_size = IntegerField()
    truncated = BooleanField(default=False)
    message_id = UUIDField(null=True)  # when the envelope could be read
    worker = CharField(max_length=128, null=True)
    replayed_at = UtcDateTimeField(null=True)  # `sideline cloud dead-letters replay`
    replay_result = TextField(null=True)  # what the replay did, for people

    class Meta:
        table_name = "dead_letter"
        indexes = (
            (("received_at",), False),
            (("device_id", "received_at"), False),
            (("org", "received_at"), False),
        )


class IngestAttempt(BaseModel):
    """A message the broker delivered again (MQTT's DUP flag) that a worker has begun.

    Written and committed before the worker handles the message, deleted in the
    transaction that finishes it: a row that stays means the worker stopped (was
    killed, hung, crashed) inside it. After ``ingest.poison_after_attempts`` such
    starts the message is set aside as a ``poison`` dead letter instead of being
    tried again, so one message cannot keep a worker from ever getting past it.
    """

    digest = CharField(max_length=64, primary_key=True)  # SHA-256 of topic and payload
    topic = TextField()
    attempts = IntegerField()
    first_at = UtcDateTimeField()
    last_at = UtcDateTimeField()
    worker = CharField(max_length=128, null=True)

    class Meta:
        table_name = "ingest_attempt"
