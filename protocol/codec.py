"""Bytes <-> messages, with errors precise enough for a dead-letter table.

``decode`` never lets a pydantic or JSON exception escape: every failure is a
:class:`ProtocolError` whose ``code`` is machine-readable and whose message
names the channel and the offending field path.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import ValidationError

from protocol.control import Command, DesiredState, Receipt
from protocol.device import CommandAck, Heartbeat, Status
from protocol.envelope import MAX_PAYLOAD_BYTES, PROTOCOL_VERSION, Message
from protocol.errors import (
    FieldError,
    MalformedPayload,
    PayloadTooLarge,
    ProtocolError,
    SchemaMismatch,
    UnsupportedVersion,
)
from protocol.records import ClipBatch, EventBatch, LogBatch
from protocol.topics import Channel

__all__ = [
    "CHANNEL_MODELS",
    "decode",
    "decode_as",
    "encode",
]

CHANNEL_MODELS: dict[Channel, type[Message]] = {
    Channel.STATUS: Status,
    Channel.HEARTBEAT: Heartbeat,
    Channel.LOGS: LogBatch,
    Channel.CLIPS: ClipBatch,
    Channel.EVENTS: EventBatch,
    Channel.ACKS: CommandAck,
    Channel.DESIRED: DesiredState,
    Channel.COMMANDS: Command,
    Channel.RECEIPTS: Receipt,
}

M = TypeVar("M", bound=Message)

_WIRE = {"wire": True}


def encode(message: Message) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def decode(channel: Channel, payload: bytes) -> Message:
    """Decode a payload received on ``channel``."""
    return decode_as(CHANNEL_MODELS[channel], payload, what=channel.value)


def decode_as(model: type[M], payload: bytes, *, what: str | None = None) -> M:
    what = what or model.__name__
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"{what} payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}"
        )
    try:
        return model.model_validate_json(payload, context=_WIRE)
    except ValidationError as error:
        raise _explain(what, payload, error) from None


def _explain(what: str, payload: bytes, error: ValidationError) -> ProtocolError:
    # Only on the failure path: find out *why*, most basic reason first.
    try:
        raw: Any = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        return MalformedPayload(f"{what} payload is not valid UTF-8 JSON: {exc}")
    if not isinstance(raw, dict):
        return MalformedPayload(f"{what} payload is a JSON {type(raw).__name__}, not an object")
    version = raw.get("protocol")
    if "protocol" in raw and version != PROTOCOL_VERSION:
        return UnsupportedVersion(
            f"{what} payload has protocol version {version!r}; this side speaks {PROTOCOL_VERSION}"
        )
    errors = [
        FieldError(
            path=".".join(str(part) for part in item["loc"]) or "(message)",
            message=item["msg"],
            input=repr(item.get("input"))[:120],
        )
        for item in error.errors(include_url=False)
    ]
    detail = "; ".join(f"{e.path}: {e.message} (got {e.input})" for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return SchemaMismatch(f"{what} payload does not match the schema: {detail}{more}", errors)
