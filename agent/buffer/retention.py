"""Disk quota: which clip files go when space runs short, and the record of what went.

Eviction order, oldest first within each tier:

1. files whose content is already safe in S3 (acknowledged, uploaded or
   published clips) and clips the cloud rejected: evicted whenever the clip
   bytes exceed ``quota_bytes`` or free space is below ``min_free_bytes``;
2. files not yet uploaded: evicted *only* past ``hard_limit_bytes`` or below
   ``hard_min_free_bytes``. Each one is data lost: it is counted (since start
   for the heartbeat, and in total in the store), logged at ERROR, and written
   as a ``clip_evicted`` system log record in the same transaction, so the
   cloud timeline learns about the gap.

A reserve file of ``reserve_bytes`` is kept beside the store and released
first when SQLite reports the disk full, so that the store can always record
evictions and receipts; it is recreated when space returns.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import Case, Database, fn

from agent.buffer.config import BufferConfig
from agent.buffer.models import SyncState, Tables
from agent.clock import Clock, utc_from
from protocol import LogRecord, LogSource, new_id

__all__ = ["EvictionReport", "Retention", "SpaceReserve"]

log = logging.getLogger(__name__)

_UNSYNCED_FILE_STATES = (SyncState.PENDING, SyncState.UPLOADING)


class SpaceReserve:
    """A file holding ``size`` bytes of disk for emergencies."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    @property
    def held(self) -> bool:
        return self.size > 0 and self.path.exists()

    def ensure(self) -> bool:
        if self.size == 0 or self.held:
            return True
        try:
            with open(self.path, "wb") as handle:
                os.posix_fallocate(handle.fileno(), 0, self.size)
                os.fsync(handle.fileno())
        except OSError as exc:
            log.warning(
                "could not create the %d-byte reserve file %s: %s", self.size, self.path, exc
            )
            self.path.unlink(missing_ok=True)
            return False
        return True

    def release(self) -> bool:
        if not self.held:
            return False
        self.path.unlink(missing_ok=True)
        log.warning("released the %d-byte disk reserve %s", self.size, self.path)
        return True


@dataclass(frozen=True, slots=True)
class EvictionReport:
    evicted_synced: int = 0
    evicted_unsynced: int = 0
    freed_bytes: int = 0
    released_reserve: bool = False


class Retention:
    def __init__(
        self,
        database: Database,
        tables: Tables,
        config: BufferConfig,
        *,
        disk_path: Path,
        reserve: SpaceReserve,
        clock: Clock,
    ) -> None:
        self._database = database
        self._tables = tables
        self._config = config
        self._disk_path = disk_path
        self._reserve = reserve
        self._clock = clock
        self._lock = threading.Lock()
        self.evicted_unsynced_clips = 0  # since start, for the heartbeat
        self.evicted_unsynced_bytes = 0

    def clip_bytes_on_disk(self) -> int:
        clips = self._tables.clips
        total = clips.select(fn.COALESCE(fn.SUM(clips.disk_bytes), 0)).where(clips.file_present)
        return int(total.scalar() or 0)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self._disk_path).free

    def enforce(self, *, emergency: bool = False) -> EvictionReport:
        """Evict what the quota requires. ``emergency``: SQLite just reported the disk full."""
        with self._lock:
            released = self._reserve.release() if emergency else False
            on_disk = self.clip_bytes_on_disk()
            free = self.free_bytes()
            want = max(
                on_disk - self._config.quota_bytes,
                self._config.min_free_bytes - free,
                self._reserve.size if emergency else 0,
            )
            synced, freed = self._evict(want, unsynced=False) if want > 0 else (0, 0)
            on_disk -= freed
            free += freed
            hard_want = max(
                on_disk - self._config.hard_limit_bytes,
                self._config.hard_min_free_bytes - free,
            )
            unsynced, freed_hard = (
                self._evict(hard_want, unsynced=True) if hard_want > 0 else (0, 0)
            )
            free += freed_hard
            if not emergency and free - self._reserve.size > self._config.min_free_bytes:
                self._reserve.ensure()
            return EvictionReport(synced, unsynced, freed + freed_hard, released)

    def _evict(self, want: int, *, unsynced: bool) -> tuple[int, int]:
        clips = self._tables.clips
        tier = Case(None, [(clips.state.in_(_UNSYNCED_FILE_STATES), 1)], 0)
        query = clips.select().where(clips.file_present).order_by(tier, clips.seq)
        if not unsynced:
            query = query.where(clips.state.not_in(_UNSYNCED_FILE_STATES))
        count = freed = 0
        for row in query.iterator():
            if freed >= want:
                break
            self._delete_files(row.path, row.thumbnail_path)
            lost = row.state in _UNSYNCED_FILE_STATES
            self._record_eviction(row, lost)
            count += 1
            freed += row.disk_bytes
        return count, freed

    def _delete_files(self, *paths: str | None) -> None:
        for path in paths:
            if path:
                try:
                    Path(path).unlink(missing_ok=True)
                except OSError as exc:
                    log.error("could not delete clip file %s: %s", path, exc)

    def _record_eviction(self, row: Any, lost: bool) -> None:
        now = self._clock.time()
        clips = self._tables.clips
        changes: dict[str, Any] = {"file_present": False, "evicted_at": now}
        if lost:
            changes.update(state=SyncState.EVICTED, upload_id=None, last_error="evicted for space")
        with self._database.atomic("IMMEDIATE"):
            clips.update(**changes).where(clips.seq == row.seq).execute()
            if lost:
                self._tables.logs.insert(**self._eviction_log_row(row, now)).execute()
                for name, amount in (
                    ("evicted_unsynced_clips", 1),
                    ("evicted_unsynced_bytes", row.size_bytes),
                ):
                    counters = self._tables.counters
                    counters.insert(name=name, value=amount).on_conflict(
                        conflict_target=[counters.name],
                        update={counters.value: counters.value + amount},
                    ).execute()
        if lost:
            self.evicted_unsynced_clips += 1
            self.evicted_unsynced_bytes += row.size_bytes
            log.error(
                "disk full: evicted clip %s (camera %s, %d bytes) before it was uploaded; "
                "it is lost (%d unsynced clips evicted since start)",
                row.id,
                row.camera_id,
                row.size_bytes,
                self.evicted_unsynced_clips,
            )
        else:
            log.info(
                "evicted synced clip file %s (%d bytes) for disk quota", row.path, row.disk_bytes
            )

    def _eviction_log_row(self, row: Any, now: float) -> dict[str, Any]:
        record = LogRecord(
            id=new_id(),
            session_id=row.session_id,
            camera_id=row.camera_id,
            occurred_at=utc_from(self._clock),
            source=LogSource.SYSTEM,
            type="clip_evicted",
            data={
                "clip_id": str(row.id),
                "size_bytes": row.size_bytes,
                "reason": "disk quota: evicted before upload",
            },
        )
        return {
            "id": record.id,
            "created_at": now,
            "body": record.model_dump_json(exclude_none=True),
        }

    def reconcile_files(self) -> int:
        """At start-up: rows whose files vanished (deleted by hand, a crash mid-eviction)."""
        clips = self._tables.clips
        fixed = 0
        for row in clips.select().where(clips.file_present).iterator():
            if Path(row.path).exists():
                continue
            lost = row.state in _UNSYNCED_FILE_STATES
            with self._database.atomic("IMMEDIATE"):
                changes: dict[str, Any] = {"file_present": False}
                if lost:
                    changes.update(
                        state=SyncState.REJECTED,
                        last_error=f"clip file {row.path} is missing",
                        synced_at=self._clock.time(),
                        upload_id=None,
                    )
                clips.update(**changes).where(clips.seq == row.seq).execute()
            if lost:
                log.error(
                    "clip %s: its file %s is missing; it cannot be uploaded", row.id, row.path
                )
            fixed += 1
        return fixed
