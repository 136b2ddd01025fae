"""Bytes <-> messages, with errors precise enough for a dead-letter table.

``decode`` never lets anything but a :class:`ProtocolError` escape, whatever
the bytes (a fuzz test holds it to that): every failure has a machine-readable
``code`` and a message that names the channel and the offending field path.
JSON is read by pydantic-core's parser on every path, so what counts as JSON
(nesting up to ~200 levels, numbers up to ~4,300 digits) is the same whether a
message validates, fails, or is salvaged record by record.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_core import from_json

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
    "parse_json",
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
        failure: Exception = error
    except Exception as exc:  # the contract: only ProtocolError leaves here
        failure = exc
    try:
        explained = _explain(what, payload, failure)
    except Exception as exc:  # explaining must not fail either
        explained = SchemaMismatch(f"{what} payload could not be validated: {_cause(exc)}", [])
    raise explained from None


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _bounded_repr(value: object) -> str:
    try:
        return repr(value)[:120]
    except Exception:  # e.g. an int too long for str()
        return f"<{type(value).__name__}>"


def parse_json(payload: bytes) -> Any:
    """The payload as Python values, read by the same parser as validation (NaN and
    Infinity are read, for the schema to refuse by field); raises
    :class:`MalformedPayload` when it is not JSON (or nests or counts too far)."""
    try:
        return from_json(payload)
    except Exception as exc:  # ValueError, or anything the parser raises
        raise MalformedPayload(f"payload is not valid UTF-8 JSON: {exc}") from None


def _explain(what: str, payload: bytes, error: Exception) -> ProtocolError:
    # Only on the failure path: find out *why*, most basic reason first.
    try:
        raw: Any = parse_json(payload)
    except MalformedPayload as exc:
        return MalformedPayload(f"{what} {exc}")
    if not isinstance(raw, dict):
        return MalformedPayload(f"{what} payload is a JSON {type(raw).__name__}, not an object")
    version = raw.get("protocol")
    if "protocol" in raw and version != PROTOCOL_VERSION:
        return UnsupportedVersion(
            f"{what} payload has protocol version {version!r}; this side speaks {PROTOCOL_VERSION}"
        )
    if not isinstance(error, ValidationError):
        # A validator raised what pydantic does not wrap (a bug, or an input no rule
        # foresaw): still a refusal of this payload, with the cause.
        return SchemaMismatch(f"{what} payload could not be validated: {_cause(error)}", [])
    errors = [
        FieldError(
            path=".".join(str(part) for part in item["loc"]) or "(message)",
            message=item["msg"],
            input=_bounded_repr(item.get("input")),
        )
        for item in error.errors(include_url=False)
    ]
    detail = "; ".join(f"{e.path}: {e.message} (got {e.input})" for e in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    return SchemaMismatch(f"{what} payload does not match the schema: {detail}{more}", errors)
