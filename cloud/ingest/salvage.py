"""Keep the good records of a batch that failed validation; name the bad ones.

One malformed record must not cost the other records of its batch: each record
is validated on its own (inside an envelope copied from the message), the valid
ones are stored as usual, and the invalid ones are refused in the receipt with
the reason, so that the device stops re-sending them. The whole payload still
goes to the dead-letter table.

A batch the JSON parser cannot read as a whole (one record nested past the
parser's ~200 levels, or a number of thousands of digits) is split into its
records by a linear scan of the bytes (:func:`split_records`), so that each
record is read, and refused, on its own. A batch of more records than a batch
may hold has all of its valid records stored: the limit is about the size of a
message, and refusing a valid record for it would lose it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from protocol import (
    Channel,
    ClipBatch,
    EventBatch,
    LogBatch,
    MalformedPayload,
    Message,
    Rejection,
)
from protocol.codec import parse_json

__all__ = ["RawRecords", "Salvaged", "salvage_batch", "split_records"]

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
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _first_error(error: ValidationError, index: int) -> str:
    item = error.errors(include_url=False)[0]
    location = list(item["loc"])
    if location[:2] == ["records", 0]:  # validated alone: give the record's place in the batch
        location[1] = index
    path = ".".join(str(part) for part in location) or "(record)"
    return f"{path}: {item['msg']}"[:500]


_Item = tuple[Any, UUID | None, str | None]  # a record, its id if readable, why it is not


def salvage_batch(channel: Channel, payload: bytes) -> Salvaged:
    """The valid records of ``payload`` as one message (``None`` if none), and the
    refusals of the invalid ones that carry a readable id."""
    model = _BATCHES[channel]
    parsed = _envelope_and_records(payload)
    if parsed is None:
        return Salvaged()
    envelope, items = parsed
    salvaged = Salvaged(message_id=_uuid(envelope.get("message_id")))
    if items is None:
        return salvaged
    first: Message | None = None
    good: list[Any] = []  # validated records, in batch order
    seen: dict[int, Any] = {}  # id -> the first valid copy
    for index, (record, record_id, unreadable) in enumerate(items):
        if unreadable is not None:
            if record_id is not None:
                salvaged.rejected.append(Rejection(id=record_id, reason=unreadable))
            continue
        try:
            alone = model.model_validate({**envelope, "records": [record]}, context=_WIRE)
        except ValidationError as error:
            if record_id is not None:  # without an id there is nothing to refuse by name
                salvaged.rejected.append(Rejection(id=record_id, reason=_first_error(error, index)))
            continue
        except Exception as exc:  # a validator bug refuses one record, not all
            if record_id is not None:
                reason = f"records.{index}: could not be validated: {type(exc).__name__}: {exc}"
                salvaged.rejected.append(Rejection(id=record_id, reason=reason[:500]))
            continue
        valid = alone.records[0]
        earlier = seen.get(valid.id.int)
        if earlier is not None:
            if earlier != valid:  # an identical copy is the same record: stored once
                salvaged.rejected.append(
                    Rejection(
                        id=valid.id,
                        reason=f"records.{index}.id repeats an earlier record of this batch "
                        "with other content; only the first copy was stored",
                    )
                )
            continue
        seen[valid.id.int] = valid
        first = first or alone
        good.append(valid)
    if first is not None:
        # Every record was validated with this envelope; the batch-wide rules (count,
        # unique ids) are what failed, and what was refused is named above.
        salvaged.message = first.model_copy(update={"records": good})
    return salvaged


def _envelope_and_records(payload: bytes) -> tuple[dict[str, Any], list[_Item] | None] | None:
    """The batch's envelope fields and its records (None: no list of records), or None
    when not even an envelope can be read. JSON that does not parse as a whole is split
    into its records, so one broken record does not hide the others."""
    try:
        raw: Any = parse_json(payload)
        split: RawRecords | None = None
    except MalformedPayload:
        split = split_records(payload)
        if split is None:
            return None
        try:
            raw = parse_json(split.envelope)
        except MalformedPayload:
            return None
    if not isinstance(raw, dict):
        return None
    envelope = {key: value for key, value in raw.items() if key != "records"}
    if split is not None:
        return envelope, [
            _parse_one(index, chunk, record_id)
            for index, (chunk, record_id) in enumerate(split.records)
        ]
    if not isinstance(raw.get("records"), list):
        return envelope, None
    return envelope, [
        (record, _uuid(record.get("id")) if isinstance(record, dict) else None, None)
        for record in raw["records"]
    ]


def _parse_one(
    index: int, chunk: bytes, record_id: bytes | None
) -> tuple[Any, UUID | None, str | None]:
    try:
        record = parse_json(chunk)
    except MalformedPayload as exc:
        reason = f"records.{index} is not JSON the cloud can read ({exc})"
        return None, _uuid(record_id) if record_id else None, reason[:500]
    found = _uuid(record.get("id")) if isinstance(record, dict) else None
    return record, found, None


# -- splitting a batch the parser cannot read whole ---------------------------------------

# Near the top of the document: strings whole (escapes included) and the
# structural characters. Deeper down only brackets matter: a string is skipped
# whole, a stretch between strings has its brackets counted at once, and only a
# stretch that may climb out of the record is walked, a run of brackets at a time.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]', re.DOTALL)
_DEEP = re.compile(rb'"(?:[^"\\]|\\.)*"|[^"]+', re.DOTALL)
_RUNS = re.compile(rb"[\[{]+|[\]}]+")
_STEP_BUDGET = 20_000
"""Loop turns a split may take (a few µs each); a payload needing more is not split."""


@dataclass(frozen=True, slots=True)
class RawRecords:
    envelope: bytes  # the payload with its records array emptied
    records: list[tuple[bytes, bytes | None]]  # each record's bytes, and its "id" if a string


class _Scan:
    """State of :func:`split_records`: depth 1 is the message object, 2 the records
    array, 3 a record object."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.depth = 0
        self.key: bytes | None = None  # the last key at depth 1
        self.after_colon = False  # at depth 1
        self.array_start = self.array_end = -1
        self.record_start = -1
        self.record_key: bytes | None = None  # the last key at depth 3
        self.record_id: bytes | None = None
        self.record_after_colon = False  # at depth 3
        self.records: list[tuple[bytes, bytes | None]] = []

    @property
    def in_records(self) -> bool:
        return self.array_start >= 0 and self.array_end < 0

    def deep(self) -> bool:
        return self.depth >= 4 or (self.depth >= 2 and not self.in_records)

    def token(self, token: bytes, start: int, end: int) -> bool:
        """Apply one token; False when the payload cannot be a batch we can split."""
        char = token[:1]
        if char == b'"':
            if self.depth == 1 and not self.after_colon:
                self.key = token
            if self.in_records and self.depth == 3:
                if self.record_after_colon and self.record_key == b'"id"':
                    self.record_id = token[1:-1]
                self.record_key = None if self.record_after_colon else token
            self.after_colon = self.record_after_colon = False
        elif char == b":":
            self.after_colon = self.depth == 1
            self.record_after_colon = self.in_records and self.depth == 3
        elif char in b"[{":
            if self.depth == 1 and self.after_colon and self.key == b'"records"' and char == b"[":
                if self.array_start >= 0:
                    return False  # two records arrays
                self.array_start, self.record_start = start, end
            self.depth += 1
            self.after_colon = self.record_after_colon = False
        elif char in b"]}":
            if self.in_records and self.depth == 2 and char == b"]":
                self.close_record(start)
                self.array_end = end
            self.depth -= 1
            if self.depth < 0:
                return False
        elif char == b",":
            if self.in_records and self.depth == 2:
                self.close_record(start)
                self.record_start, self.record_id, self.record_key = end, None, None
            if self.depth == 1:
                self.key = None
            self.after_colon = self.record_after_colon = False
        return True

    def close_record(self, end: int) -> None:
        chunk = self.payload[self.record_start : end].strip()
        if chunk:
            self.records.append((chunk, self.record_id))


def split_records(payload: bytes) -> RawRecords | None:
    """The records of a batch payload, each as its own bytes, with its top-level
    ``"id"`` when that is a string. One linear pass, bounded by a step budget;
    ``None`` when there is no ``"records"`` array at the top level, the brackets do
    not balance, or the payload would take more than the budget."""
    scan = _Scan(payload)
    position, steps = 0, 0
    while position < len(payload):
        steps += 1
        if steps > _STEP_BUDGET:
            return None
        if not scan.deep():
            match = _TOKEN.search(payload, position)
            if match is None:
                break
            if not scan.token(match.group(), match.start(), match.end()):
                return None
            position = match.end()
            continue
        match = _DEEP.match(payload, position)
        if match is None:  # an unterminated string
            return None
        position = match.end()
        stretch = match.group()
        if stretch[:1] == b'"':
            continue
        floor = 4 if scan.in_records else 2  # the least depth that is still deep
        closes = stretch.count(b"]") + stretch.count(b"}")
        if scan.depth - closes >= floor:  # cannot climb out: just count
            scan.depth += stretch.count(b"[") + stretch.count(b"{") - closes
            continue
        for run in _RUNS.finditer(stretch):
            steps += 1
            if steps > _STEP_BUDGET:
                return None
            brackets = run.group()
            if brackets[:1] in b"[{":
                scan.depth += len(brackets)
                continue
            if scan.depth - len(brackets) >= floor:
                scan.depth -= len(brackets)
                continue
            # The closing bracket that takes it back to floor - 1 ends the deep part;
            # the rest of the stretch is read token by token.
            consumed = scan.depth - floor + 1
            scan.depth = floor - 1
            position = match.start() + run.start() + consumed
            break
    if scan.depth != 0 or scan.array_start < 0 or scan.array_end < 0:
        return None
    envelope = payload[: scan.array_start] + b"[]" + payload[scan.array_end :]
    return RawRecords(envelope, scan.records)
