"""Write the records of several messages of one kind, inside the caller's transaction.

For each message it works out the session of every record (the one the device
named, if it is a session of the device's organisation; otherwise the one whose
window on the device contains the record), inserts all rows at once with
``ON CONFLICT DO NOTHING``, refuses ids that another device already owns, and
says which ids the receipt may name as stored. Clips are stored ``pending`` and
named in a receipt only once verified (``cloud.ingest.verify``).

Whatever goes wrong while filing one record (working out its session or command,
encoding its row) refuses that record alone: it is rejected in the receipt with
the cause and listed in ``RecordMessage.failures``, which the store keeps as an
``internal_error`` dead letter of the whole message, for an operator to replay
once the cause is fixed. The records beside it are stored as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from peewee import Database

from cloud.ingest.attach import SessionWindow, pick_session, sessions_of_org, windows_for_device
from cloud.ingest.bulk import PreparedRow, insert_ignore
from cloud.ingest.encoding import RowEncoder
from cloud.ingest.rows import KIND_SPECS, RecordContext, RecordSpec
from cloud.models import Clip, ClipStatus, Command
from protocol import ClipRecord, Rejection

__all__ = ["RecordMessage", "write_records"]

_FOREIGN = "this id is already used by another device's record"
_FAILED = (
    "the cloud could not file this record ({cause}); the message is kept as a dead "
    "letter for an operator to replay once that is fixed"
)


@dataclass(slots=True)
class RecordMessage:
    """One record message whose sender is known; filled in by :func:`write_records`."""

    org_id: UUID
    device_id: str
    message_id: UUID | None  # None only when nothing validated (refusals only)
    received_at: datetime
    records: Sequence[Any]
    prepared: Sequence[Any] | None = None  # the records' encoded parts, if done on receipt
    stored: list[UUID] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    failures: dict[UUID, str] = field(default_factory=dict)  # records the cloud failed to file


@dataclass(slots=True)
class KindTotals:
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0


def write_records(
    database: Database, kind: str, messages: Sequence[RecordMessage], *, isolate: bool = False
) -> KindTotals:
    """Insert the records of ``messages``. With ``isolate``, each row is inserted on
    its own savepoint and a row the database refuses is rejected, not fatal."""
    spec = KIND_SPECS[kind]  # type: ignore[index]
    encoder = RowEncoder.for_database(database)
    # Keyed by the id's integer: UUID.__hash__ is Python code, int's is not (4x per row).
    rows: dict[int, PreparedRow] = {}
    sessions = _SessionResolver(spec, messages)
    refused: dict[UUID, str] = {}
    for message in messages:
        commands = _commands_named(message) if kind == "clips" else set()
        ctx = RecordContext(
            message.org_id, message.device_id, message.message_id, message.received_at
        )
        encoded = message.prepared
        if encoded is None or len(encoded) != len(message.records):
            encoded = _encode_each(encoder, spec, message)
        contexts: dict[tuple[UUID | None, UUID | None], Any] = {}
        for record, record_part in zip(message.records, encoded, strict=True):
            key_int = record.id.int
            if key_int in rows or record.id in message.failures:
                continue  # the same record twice in one transaction (a re-delivery)
            try:
                key = (
                    sessions.session_of(record, message.device_id),
                    _command_of(record, commands) if commands else None,
                )
                context_part = contexts.get(key)
                if context_part is None:
                    context_part = contexts[key] = encoder.encode(
                        spec.context_fields, spec.context_values(ctx, *key)
                    )
            except Exception as exc:  # one record's failure is that record's
                message.failures[record.id] = _cause(exc)
                continue
            rows[key_int] = PreparedRow(record.id, message.device_id, context_part, record_part)
        for record_id, cause in message.failures.items():
            refused[record_id] = _FAILED.format(cause=cause)[:500]
    totals = KindTotals()
    if isolate:
        totals.inserted = _insert_one_by_one(database, spec, rows.values(), refused)
    else:
        outcome = insert_ignore(database, spec, list(rows.values()))
        totals.inserted = outcome.inserted
        refused.update(dict.fromkeys(outcome.foreign, _FOREIGN))
    failed = sum(len(message.failures) for message in messages)
    totals.duplicates = len(rows) - totals.inserted - (len(refused) - failed)
    totals.rejected = len(refused)
    ready = _clip_states(messages, refused) if kind == "clips" else None
    for message in messages:
        if not refused and ready is None:
            message.stored.extend(record.id for record in message.records)
            continue
        for record in message.records:
            if record.id in refused:
                message.rejected.append(Rejection(id=record.id, reason=refused[record.id]))
            elif ready is None or record.id in ready:
                message.stored.append(record.id)
    return totals


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _encode_each(encoder: RowEncoder, spec: RecordSpec, message: RecordMessage) -> list[Any]:
    """The record parts of ``message``; a record that cannot be encoded gets ``None``
    and an entry in ``message.failures`` (one at a time only after the whole failed)."""
    try:
        return encoder.encode_records(spec, message.records)
    except Exception:  # find which record it was
        parts: list[Any] = []
        for record in message.records:
            try:
                parts.extend(encoder.encode_records(spec, [record]))
            except Exception as exc:  # that record's, and only its
                message.failures[record.id] = _cause(exc)
                parts.append(None)
        return parts


class _SessionResolver:
    """The session of each record of a group: the claimed sessions are checked in one
    query per organisation, the windows fetched once per device for the time span
    of all its records in the group."""

    def __init__(self, spec: RecordSpec, messages: Sequence[RecordMessage]) -> None:
        self.spec = spec
        self.messages = messages
        claimed: dict[UUID, set[UUID]] = {}
        for message in messages:
            for record in message.records:
                if record.session_id is not None:
                    claimed.setdefault(message.org_id, set()).add(record.session_id)
        self.valid: set[UUID] = set()
        for org_id, session_ids in claimed.items():
            self.valid |= sessions_of_org(org_id, session_ids)
        self.windows: dict[str, list[SessionWindow] | Exception] = {}

    def session_of(self, record: Any, device_id: str) -> UUID | None:
        if record.session_id is not None and record.session_id in self.valid:
            return record.session_id  # type: ignore[no-any-return]
        windows = self.windows.get(device_id)
        if windows is None:
            times = [
                self.spec.time_of(r)
                for message in self.messages
                if message.device_id == device_id
                for r in message.records
            ]
            try:
                windows = windows_for_device(device_id, min(times), max(times))
            except Exception as exc:  # asked once per device, failing or not
                windows = exc
            self.windows[device_id] = windows
        if isinstance(windows, Exception):
            raise windows
        if not windows:
            return None
        return pick_session(windows, self.spec.time_of(record), record.camera_id)


def _commands_named(message: RecordMessage) -> set[UUID]:
    named = {t.command_id for r in message.records for t in r.triggers if t.command_id}
    if not named:
        return set()
    query = Command.select(Command.id).where(
        Command.id.in_(list(named)) & (Command.device == message.device_id)
    )
    return {row.id for row in query}


def _command_of(record: ClipRecord, commands: set[UUID]) -> UUID | None:
    for trigger in record.triggers:
        if trigger.command_id in commands:
            return trigger.command_id
    return None


def _insert_one_by_one(
    database: Database,
    spec: RecordSpec,
    rows: Iterable[PreparedRow],
    refused: dict[UUID, str],
) -> int:
    inserted = 0
    for row in rows:
        record_id = row.id
        try:
            with database.atomic():  # a savepoint: a refused row does not abort the rest
                outcome = insert_ignore(database, spec, [row])
            inserted += outcome.inserted
            if outcome.foreign:
                refused[record_id] = _FOREIGN
        except Exception as exc:  # the driver's and the database's, all kinds
            refused[record_id] = f"the database refused this record: {exc}".strip()[:500]
    return inserted


def _clip_states(messages: Sequence[RecordMessage], refused: dict[UUID, str]) -> set[UUID]:
    """Ids already verified (receipted now); re-sent failed clips go back to pending.

    A clip the box reports as failed (``record.failure``: it has no object) is stored
    ``failed`` with the box's reason and receipted at once: there is nothing to verify.
    """
    ready: set[UUID] = set()
    for message in messages:
        reported = {
            r.id: r.failure
            for r in message.records
            if isinstance(r, ClipRecord) and r.failure is not None and r.id not in refused
        }
        for failure in {f.message for f in reported.values()}:
            failed = [i for i, f in reported.items() if f.message == failure]
            Clip.update(
                status=ClipStatus.FAILED,
                failure_reason=failure,
                next_verify_at=None,
                message_id=message.message_id,
            ).where(Clip.id.in_(failed) & (Clip.status == ClipStatus.PENDING)).execute()
        ready.update(reported)
        ids = [r.id for r in message.records if r.id not in refused and r.id not in reported]
        if not ids:
            continue
        states = {
            row.id: row.status for row in Clip.select(Clip.id, Clip.status).where(Clip.id.in_(ids))
        }
        ready.update(i for i, state in states.items() if state is ClipStatus.READY)
        retry = [i for i, state in states.items() if state is ClipStatus.FAILED]
        if retry:  # the device sent it again: perhaps it uploaded the object again too
            Clip.update(
                status=ClipStatus.PENDING,
                failure_reason=None,
                verify_attempts=0,
                next_verify_at=message.received_at,
            ).where(Clip.id.in_(retry)).execute()
        pending = [i for i, state in states.items() if state is not ClipStatus.READY]
        if pending:  # the verifier's receipt answers the latest message that carried them
            Clip.update(message_id=message.message_id).where(Clip.id.in_(pending)).execute()
    return ready
