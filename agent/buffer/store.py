"""The local store: where every log, detection event and clip waits until the cloud has it.

:class:`LocalStore` is what producers see (:class:`agent.interfaces.sinks.RecordSink`
and :class:`~agent.interfaces.sinks.ClipSink`) and what sync works on (``outbox``,
``uploads``, ``desired``, ``commands``, ``retention``). It owns its database
and its writer thread: ``open()`` starts them, ``close()`` drains and stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from peewee import SqliteDatabase
from pydantic import TypeAdapter

from agent.buffer.config import BufferConfig
from agent.buffer.control import CommandLedger, DesiredStateStore
from agent.buffer.database import Quarantined, open_database
from agent.buffer.errors import is_corrupt
from agent.buffer.models import SyncState, Tables, bind_models
from agent.buffer.outbox import Outbox
from agent.buffer.retention import Retention, SpaceReserve
from agent.buffer.uploads import UploadLedger
from agent.buffer.writer import GroupCommitWriter, Statement
from agent.clock import Clock, SystemClock, utc_from
from agent.interfaces.sinks import ClipPromise, LocalClip
from protocol import (
    ClipFailure,
    ClipFailureReason,
    ClipRecord,
    DetectionEvent,
    LogRecord,
    LogSource,
    Trigger,
    new_id,
)

__all__ = ["LocalStore", "StoreIdentity", "clip_object_key"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    org: str
    device_id: str


def clip_object_key(identity: StoreIdentity, clip: LocalClip, suffix: str) -> str:
    """``{org}/{device}/{yyyy}/{mm}/{dd}/{clip_id}{suffix}``, dated by the clip's start (UTC)."""
    day = clip.started_at.astimezone(UTC)
    return f"{identity.org}/{identity.device_id}/{day:%Y/%m/%d}/{clip.id}{suffix}"


_triggers_adapter: TypeAdapter[list[Trigger]] = TypeAdapter(list[Trigger])

# A promise is kept (or widened, when a trigger merges into its clip) until the clip
# exists; once it does, a late promise of it changes nothing.
_PROMISE_SQL = (
    "INSERT INTO pending_clips (id, camera_id, window_start, window_end, session_id, "
    "triggers, width, height, created_at, updated_at) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM clips WHERE id = ?) "
    "ON CONFLICT (id) DO UPDATE SET window_start = excluded.window_start, "
    "window_end = excluded.window_end, session_id = excluded.session_id, "
    "triggers = excluded.triggers, updated_at = excluded.updated_at"
)


def _end_promise(clip_id: UUID) -> Statement:
    return ("DELETE FROM pending_clips WHERE id = ?", (clip_id.bytes,))


class LocalStore:
    def __init__(
        self,
        config: BufferConfig,
        *,
        path: Path,
        identity: StoreIdentity,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.path = path
        self.identity = identity
        self.clock = clock or SystemClock()
        self.quarantined: Quarantined | None = None
        self._database: SqliteDatabase | None = None
        self._writer: GroupCommitWriter | None = None
        self._writer_thread: threading.Thread | None = None
        self.retention_due = threading.Event()  # set when a clip arrives: check the quota soon
        self.uploads_due = threading.Event()  # set when a clip arrives: the uploader wakes
        #: The clock offset the heartbeat last measured (ms), written on each clip record
        #: so that the cloud can see a box whose clips are misaligned.
        self.clock_offset_ms: Callable[[], float | None] = lambda: None
        # Set when SQLite reports corruption at run time: the daemon stops (exit 1),
        # systemd restarts it, and the check at start-up quarantines the file.
        self.corrupt = threading.Event()

    # --- life cycle ----------------------------------------------------------

    def open(self) -> None:
        database, self.quarantined = open_database(
            self.path,
            durability=self.config.durability,
            quick_check=self.config.quick_check_on_open,
        )
        self._database = database
        self.tables: Tables = bind_models(database)
        self.outbox = Outbox(database, self.tables)
        self.uploads = UploadLedger(database, self.tables)
        self.desired = DesiredStateStore(database, self.tables)
        self.commands = CommandLedger(database, self.tables)
        self.reserve = SpaceReserve(
            self.path.with_name(self.path.name + ".reserve"), self.config.reserve_bytes
        )
        self.retention = Retention(
            database,
            self.tables,
            self.config,
            disk_path=self.path.parent,
            reserve=self.reserve,
            clock=self.clock,
        )
        self._writer = GroupCommitWriter(
            database, self.tables, on_disk_full=self._make_room, on_error=self.report_error
        )
        self._writer_thread = threading.Thread(
            target=self._run_writer, args=(self._writer,), name="store-writer", daemon=True
        )
        self._writer_thread.start()
        requeued = self.outbox.requeue_all_published()
        if any(requeued.values()):
            log.info("records in flight when the agent last stopped, sent again: %s", requeued)
        self.retention.reconcile_files()
        self.retention.enforce()
        if self.quarantined is not None:
            self._log_quarantine(self.quarantined)

    def _run_writer(self, writer: GroupCommitWriter) -> None:
        try:
            writer.run()
        finally:
            self.release_thread()

    def report_error(self, exc: BaseException) -> None:
        """Every loop passes its database errors here; corruption ends the run."""
        if is_corrupt(exc) and not self.corrupt.is_set():
            log.critical(
                "the store %s is corrupt (%s); stopping so that it is checked and "
                "quarantined at the next start",
                self.path,
                exc,
            )
            self.corrupt.set()

    def _make_room(self) -> None:
        self.retention.enforce(emergency=True)

    def close(self) -> None:
        if self._writer is not None and self._writer_thread is not None:
            self._writer.stop()
            self._writer_thread.join(timeout=self.config.write_timeout_s + 5)
        if self._database is not None:
            self._database.close()

    def relax_durability_for_this_thread(self) -> None:
        """``synchronous=NORMAL`` on the calling thread's connection.

        For the sync thread only: the marks it writes (published, acked,
        rejected) may be lost on a power cut without harm, because a record that
        loses its mark is simply sent again and the ingest ignores the copy. The
        WAL's next FULL commit (any new record) makes them durable anyway. New
        records, uploads and commands keep ``synchronous=FULL``.
        """
        self.database.execute_sql("PRAGMA synchronous=NORMAL")

    def release_thread(self) -> None:
        """Close the calling thread's connection (each thread has its own); loops call this
        when they end, so that the last one out checkpoints the WAL."""
        if self._database is not None and not self._database.is_closed():
            self._database.close()

    def writer_alive(self, within_s: float) -> bool:
        return (
            self._writer is not None
            and self._writer_thread is not None
            and self._writer_thread.is_alive()
            and self._writer.alive(within_s)
        )

    @property
    def database(self) -> SqliteDatabase:
        if self._database is None:
            raise RuntimeError("the store is not open")
        return self._database

    # --- producers (RecordSink, ClipSink) -----------------------------------

    def add_log(self, record: LogRecord) -> None:
        self.add_logs([record])

    def add_event(self, record: DetectionEvent) -> None:
        self.add_events([record])

    def add_logs(self, records: Sequence[LogRecord]) -> None:
        self._submit("logs", [self._record_row(r) for r in records])

    def add_events(self, records: Sequence[DetectionEvent]) -> None:
        self._submit("events", [self._record_row(r) for r in records])

    def add_clip(self, clip: LocalClip) -> None:
        """Take the clip's files; the promise of that clip (if any) ends in the same commit."""
        self._submit("clips", [self._clip_row(clip)], statements=(_end_promise(clip.id),))
        self.retention_due.set()
        self.uploads_due.set()

    # --- promised clips (ClipLedger) --------------------------------------------

    def promise_clip(self, promise: ClipPromise) -> None:
        """Durable once it returns (one shared fsync); a no-op once the clip is stored."""
        now = self.clock.time()
        values = (
            promise.id.bytes,
            promise.camera_id,
            promise.start.timestamp(),
            promise.end.timestamp(),
            str(promise.session_id) if promise.session_id else None,
            _triggers_adapter.dump_json(list(promise.triggers), exclude_none=True).decode(),
            promise.width,
            promise.height,
            now,
            now,
            promise.id.bytes,
        )
        self._submit("pending_clips", [], statements=((_PROMISE_SQL, values),))

    def fail_clip(self, promise: ClipPromise, reason: ClipFailureReason, message: str) -> None:
        """End the promise with a failed clip record for the cloud (nothing to upload)."""
        record = ClipRecord(
            id=promise.id,
            session_id=promise.session_id,
            camera_id=promise.camera_id,
            started_at=promise.start,
            ended_at=max(promise.start, promise.end),
            triggers=list(promise.triggers),
            size_bytes=0,
            duration_ms=0,
            frame_count=0,
            width=promise.width,
            height=promise.height,
            failure=ClipFailure(reason=reason, message=message[:500]),
        )
        row = {
            "id": promise.id,
            "created_at": self.clock.time(),
            "body": record.model_dump_json(exclude_none=True),
            "state": SyncState.UPLOADED,  # sendable at once: there is no file
            "camera_id": promise.camera_id,
            "session_id": str(promise.session_id) if promise.session_id else None,
            "started_at": record.started_at.timestamp(),
            "ended_at": record.ended_at.timestamp(),
            "path": "",
            "size_bytes": 0,
            "disk_bytes": 0,
            "sha256": "",
            "object_key": "",
            "thumbnail_uploaded": True,
            "file_present": False,
        }
        self._submit("clips", [row], statements=(_end_promise(promise.id),))
        log.warning(
            "camera %s: clip %s failed (%s): %s; reported to the cloud",
            promise.camera_id,
            promise.id,
            reason.value,
            message,
        )

    def promised_clips(self) -> list[ClipPromise]:
        """Promises not yet made or failed, oldest first."""
        rows = self.database.execute_sql(
            "SELECT id, camera_id, window_start, window_end, session_id, triggers, width, height "
            "FROM pending_clips WHERE id NOT IN (SELECT id FROM clips) ORDER BY created_at"
        ).fetchall()
        return [
            ClipPromise(
                id=UUID(bytes=bytes(row[0])),
                camera_id=row[1],
                start=datetime.fromtimestamp(row[2], UTC),
                end=datetime.fromtimestamp(row[3], UTC),
                session_id=UUID(row[4]) if row[4] else None,
                triggers=tuple(_triggers_adapter.validate_json(row[5])),
                width=int(row[6]),
                height=int(row[7]),
            )
            for row in rows
        ]

    def add_system_log(
        self, type_: str, data: dict[str, Any], camera_id: str | None = None
    ) -> None:
        self.add_log(
            LogRecord(
                id=new_id(),
                occurred_at=utc_from(self.clock),
                source=LogSource.SYSTEM,
                type=type_,
                camera_id=camera_id,
                data=data,
            )
        )

    def _submit(
        self, table: str, rows: list[dict[str, Any]], *, statements: tuple[Statement, ...] = ()
    ) -> None:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        self._writer.submit(table, rows, self.config.write_timeout_s, statements=statements)

    def _record_row(self, record: LogRecord | DetectionEvent) -> dict[str, Any]:
        return {
            "id": record.id,
            "created_at": self.clock.time(),
            "body": record.model_dump_json(exclude_none=True),
        }

    def _clip_row(self, clip: LocalClip) -> dict[str, Any]:
        try:
            disk_bytes = clip.path.stat().st_size
        except FileNotFoundError:
            raise ValueError(f"clip {clip.id}: its file {clip.path} does not exist") from None
        if clip.thumbnail_path is not None:
            try:
                disk_bytes += clip.thumbnail_path.stat().st_size
            except FileNotFoundError:
                raise ValueError(
                    f"clip {clip.id}: its thumbnail {clip.thumbnail_path} does not exist"
                ) from None
        thumbnail_key = (
            clip_object_key(self.identity, clip, ".jpg") if clip.thumbnail_path else None
        )
        record = ClipRecord(
            id=clip.id,
            session_id=clip.session_id,
            camera_id=clip.camera_id,
            started_at=clip.started_at,
            ended_at=clip.ended_at,
            triggers=list(clip.triggers),
            object_key=clip_object_key(self.identity, clip, ".mp4"),
            thumbnail_key=thumbnail_key,
            size_bytes=clip.size_bytes,
            sha256=clip.sha256,
            duration_ms=clip.duration_ms,
            frame_count=clip.frame_count,
            width=clip.width,
            height=clip.height,
            log_id=clip.log_id,
            replaces=clip.replaces,
            clock_offset_ms=self.clock_offset_ms(),
        )
        return {
            "id": clip.id,
            "created_at": self.clock.time(),
            "body": record.model_dump_json(exclude_none=True),
            "camera_id": clip.camera_id,
            "session_id": str(clip.session_id) if clip.session_id else None,
            "started_at": clip.started_at.timestamp(),
            "ended_at": clip.ended_at.timestamp(),
            "path": str(clip.path),
            "thumbnail_path": str(clip.thumbnail_path) if clip.thumbnail_path else None,
            "size_bytes": clip.size_bytes,
            "disk_bytes": disk_bytes,
            "sha256": clip.sha256,
            "object_key": record.object_key,
            "thumbnail_key": thumbnail_key,
        }

    def _log_quarantine(self, quarantined: Quarantined) -> None:
        try:
            self.add_system_log(
                "store_quarantined",
                {
                    "moved_to": str(quarantined.moved_to),
                    "reason": quarantined.reason[:400],
                },
            )
        except Exception:  # reporting must not stop start-up
            log.exception("could not record the quarantine of the store")
