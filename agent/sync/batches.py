"""Building a batch message from stored rows, and refusing rows that would spoil it.

Each row keeps its record's wire JSON, so a batch is the envelope with the
bodies spliced in: no parse and re-serialise per record. Before it goes out the
whole payload is decoded exactly as the ingest will decode it; a row that fails
(a corrupt row, a bug) is found, named and taken out, so that one bad record
never blocks the others or makes the ingest dead-letter a whole batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import ValidationError

from agent.buffer.outbox import ClaimedBatch
from protocol import (
    PROTOCOL_VERSION,
    Channel,
    ClipBatch,
    ClipRecord,
    DetectionEvent,
    EventBatch,
    LogBatch,
    LogRecord,
    Message,
    ProtocolError,
    RecordKind,
    WireModel,
    decode_as,
    format_utc,
)

__all__ = ["ENVELOPE_BUDGET", "KIND_CHANNEL", "BadRow", "assemble", "check", "find_bad_rows"]

KIND_CHANNEL: dict[RecordKind, Channel] = {
    "logs": Channel.LOGS,
    "events": Channel.EVENTS,
    "clips": Channel.CLIPS,
}
_BATCH_MODEL: dict[RecordKind, type[Message]] = {
    "logs": LogBatch,
    "events": EventBatch,
    "clips": ClipBatch,
}
_RECORD_MODEL: dict[RecordKind, type[WireModel]] = {
    "logs": LogRecord,
    "events": DetectionEvent,
    "clips": ClipRecord,
}
ENVELOPE_BUDGET = 512  # bytes of envelope around the records, rounded up


@dataclass(frozen=True, slots=True)
class BadRow:
    id: UUID
    reason: str


def assemble(batch: ClaimedBatch, *, org: str, device_id: str, sent_at: datetime) -> bytes:
    # org and device id are validated segments and the ids are UUIDs: nothing here
    # needs JSON escaping.
    header = (
        f'{{"protocol":{PROTOCOL_VERSION},"message_id":"{batch.message_id}",'
        f'"org":"{org}","device_id":"{device_id}","sent_at":"{format_utc(sent_at)}","records":['
    )
    return header.encode() + b",".join(batch.bodies) + b"]}"


def check(kind: RecordKind, payload: bytes, *, full: bool) -> str | None:
    """None if the payload is fine; otherwise what is wrong with it.

    Always: well-formed JSON (corruption that breaks a row's text is caught at
    the cost of a C parser). ``full``: decoded exactly as the ingest will."""
    if full:
        try:
            decode_as(_BATCH_MODEL[kind], payload, what=f"{kind} batch")
        except ProtocolError as exc:
            return str(exc)
        return None
    try:
        json.loads(payload)
    except ValueError as exc:
        return f"{kind} batch is not well-formed JSON: {exc}"
    return None


def find_bad_rows(batch: ClaimedBatch, *, org: str, device_id: str) -> list[BadRow]:
    """The rows of ``batch`` that do not make a valid record on their own."""
    model = _RECORD_MODEL[batch.kind]
    prefix = f"{org}/{device_id}/"
    bad: list[BadRow] = []
    for record_id, body in zip(batch.ids, batch.bodies, strict=True):
        try:
            record = model.model_validate_json(body, context={"wire": True})
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "(record)"
            bad.append(BadRow(record_id, f"corrupt row: {where}: {first['msg']}"))
            continue
        if getattr(record, "id", record_id) != record_id:
            bad.append(BadRow(record_id, "corrupt row: its body carries another record's id"))
        elif (
            isinstance(record, ClipRecord)
            and record.object_key is not None
            and not record.object_key.startswith(prefix)
        ):
            bad.append(BadRow(record_id, f"corrupt row: object key not under {prefix}"))
    return bad
