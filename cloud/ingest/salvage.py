"""Keep the good records of a batch that failed validation; name the bad ones.

One malformed record must not cost the other 499 of its batch: each record is
validated on its own (inside an envelope copied from the message), the valid
ones are stored as usual, and the invalid ones are refused in the receipt with
the reason, so that the device stops re-sending them. The whole payload still
goes to the dead-letter table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from protocol import (
    MAX_RECORDS_PER_BATCH,
    Channel,
    ClipBatch,
    EventBatch,
    LogBatch,
    Message,
    Rejection,
)

__all__ = ["Salvaged", "salvage_batch"]

_BATCHES: dict[Channel, type[LogBatch] | type[ClipBatch] | type[EventBatch]] = {
    Channel.LOGS: LogBatch,
    Channel.CLIPS: ClipBatch,
    Channel.EVENTS: EventBatch,
}
_WIRE = {"wire": True}


@dataclass(slots=True)
class Salvaged:
    message: Message | None = None
    rejected: list[Rejection] = field(default_factory=list)
    message_id: UUID | None = None


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _first_error(error: ValidationError) -> str:
    item = error.errors(include_url=False)[0]
    path = ".".join(str(part) for part in item["loc"]) or "(record)"
    return f"{path}: {item['msg']}"[:500]


def salvage_batch(channel: Channel, payload: bytes) -> Salvaged:
    model = _BATCHES[channel]
    try:
        raw = json.loads(payload)
    except ValueError:
        return Salvaged()
    if not isinstance(raw, dict) or not isinstance(raw.get("records"), list):
        return Salvaged(message_id=_uuid(raw.get("message_id")) if isinstance(raw, dict) else None)
    envelope = {key: value for key, value in raw.items() if key != "records"}
    salvaged = Salvaged(message_id=_uuid(envelope.get("message_id")))
    good: list[Any] = []  # the raw records that validated on their own
    for record in raw["records"][:MAX_RECORDS_PER_BATCH]:
        try:
            model.model_validate({**envelope, "records": [record]}, context=_WIRE)
        except ValidationError as error:
            record_id = _uuid(record.get("id")) if isinstance(record, dict) else None
            if record_id is not None:  # without an id there is nothing to refuse by name
                salvaged.rejected.append(Rejection(id=record_id, reason=_first_error(error)))
            continue
        good.append(record)
    if good:
        try:
            salvaged.message = model.model_validate({**envelope, "records": good}, context=_WIRE)
        except ValidationError:
            salvaged.message = None  # only batch-wide rules fail here; keep it all dead-lettered
    return salvaged
