"""Turn one received MQTT message into a typed message, or a reason it is not one.

Runs on paho's network thread, so that decoding overlaps the writer's database
round trips. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from cloud.ingest.encoding import RowEncoder
from cloud.ingest.rows import KIND_SPECS
from cloud.ingest.salvage import salvage_batch
from protocol import (
    UP_CHANNELS,
    Channel,
    MalformedPayload,
    Message,
    ProtocolError,
    Rejection,
    SchemaMismatch,
    Topic,
    TopicError,
    decode,
    parse_topic,
)

__all__ = ["RECORD_CHANNELS", "Decoded", "Inbound", "Problem", "decode_inbound"]

RECORD_CHANNELS = frozenset({Channel.LOGS, Channel.CLIPS, Channel.EVENTS})


@dataclass(frozen=True, slots=True)
class Inbound:
    """One MQTT message as the broker delivered it."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    generation: int  # the connection it arrived on: acks go only to that one
    received_at: datetime
    sequence: int = 0  # arrival order in this process: acknowledgements keep it
    dup: bool = False  # MQTT's DUP flag: the broker delivered it before, unacknowledged


@dataclass(frozen=True, slots=True)
class Problem:
    """Why (part of) a message goes to the dead-letter table."""

    code: str
    reason: str


@dataclass(slots=True)
class Decoded:
    inbound: Inbound
    topic: Topic | None = None
    message: Message | None = None  # with only the records that validated
    rejected: list[Rejection] = field(default_factory=list)  # records refused for good
    problem: Problem | None = None
    message_id: UUID | None = None
    prepared: list[Any] | None = None  # the records' encoded parts (see cloud.ingest.rows)

    @property
    def is_records(self) -> bool:
        return self.topic is not None and self.topic.channel in RECORD_CHANNELS


def decode_inbound(inbound: Inbound, prefix: str, encoder: RowEncoder | None = None) -> Decoded:
    """Decode ``inbound``; with ``encoder``, also encode its records' parts for the
    writer (work done here overlaps the writer's wait on the database)."""
    decoded = _decode(inbound, prefix)
    if encoder is not None and decoded.is_records and decoded.message is not None:
        spec = KIND_SPECS[decoded.topic.channel.value]  # type: ignore[union-attr,index]
        try:
            decoded.prepared = encoder.encode_records(spec, decoded.message.records)  # type: ignore[attr-defined]
        except Exception:  # the writer encodes again and reports it properly
            decoded.prepared = None
    return decoded


def _decode(inbound: Inbound, prefix: str) -> Decoded:
    try:
        topic = parse_topic(inbound.topic, prefix=prefix)
    except TopicError as exc:
        return Decoded(inbound, problem=Problem("bad_topic", str(exc)))
    if topic.channel not in UP_CHANNELS:
        return Decoded(
            inbound, topic, problem=Problem("bad_topic", f"{topic.channel} is not a device channel")
        )
    try:
        message = decode(topic.channel, inbound.payload)
    except (SchemaMismatch, MalformedPayload) as exc:
        if topic.channel not in RECORD_CHANNELS:
            return Decoded(inbound, topic, problem=Problem(exc.code, str(exc)))
        salvaged = salvage_batch(topic.channel, inbound.payload)
        return Decoded(
            inbound,
            topic,
            message=salvaged.message,
            rejected=salvaged.rejected,
            problem=Problem(exc.code, str(exc)),
            message_id=salvaged.message_id,
        )
    except ProtocolError as exc:
        return Decoded(inbound, topic, problem=Problem(exc.code, str(exc)))
    return Decoded(inbound, topic, message=message, message_id=message.message_id)
