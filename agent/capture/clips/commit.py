"""Committing finished clips: write the files, hand them to the store, retry what failed.

Runs on the clip writer's thread. A write that fails (any exception; ENOSPC is
reported as "the disk is full") leaves nothing behind (the file writer cleans
up), is logged naming the camera, and is retried every ``write_retry_s`` up to
``write_retries`` times with its packets kept in memory, so a disk that fills
while the store evicts old clips loses nothing. A clip the store refuses keeps
its manifest and is handed over again at start-up.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.capture.clips.files import ClipFileWriter, ClipJob
from agent.capture.config import ClipConfig
from agent.interfaces.sinks import ClipSink

__all__ = ["ClipCommitter", "ClipWriterStats"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ClipWriterStats:
    requested: int = 0
    merged: int = 0
    rejected: int = 0
    written: int = 0
    failed_writes: int = 0
    given_up: int = 0
    failed: int = 0  # promises ended as failed clips (reported to the cloud)
    unrecorded_promises: int = 0  # presses the store could not make durable
    last_error: str | None = None


@dataclass(slots=True)
class _Retry:
    job: ClipJob
    attempts: int
    next_at: float  # time.monotonic()


class ClipCommitter:
    def __init__(
        self,
        config: ClipConfig,
        files: ClipFileWriter,
        sink: ClipSink,
        stats: ClipWriterStats,
        *,
        on_given_up: Callable[[ClipJob, str], None] = lambda job, reason: None,
    ) -> None:
        self.config = config
        self._files = files
        self._sink = sink
        self.stats = stats
        self._on_given_up = on_given_up
        self._retries: list[_Retry] = []
        self._lock = threading.Lock()

    @property
    def retry_count(self) -> int:
        with self._lock:
            return len(self._retries)

    def retry_now(self) -> None:
        with self._lock:
            for retry in self._retries:
                retry.next_at = 0.0

    def retry_due(self, *, flush: bool = False) -> int:
        now = time.monotonic()
        with self._lock:
            due = [r for r in self._retries if flush or now >= r.next_at]
            self._retries = [r for r in self._retries if r not in due]
        return sum(self.commit(r.job, attempts=r.attempts) for r in due)

    def commit(self, job: ClipJob, attempts: int = 0) -> int:
        """Write and hand over one clip; 1 when the store has it, else 0."""
        try:
            clip = self._files.write(job)
        except Exception as exc:
            self._failed(job, attempts + 1, exc)
            return 0
        try:
            self._sink.add_clip(clip)
        except Exception:
            log.exception(
                "camera %s: clip %s written but the store did not take it; "
                "it is handed over again at start-up",
                job.camera_id,
                job.clip_id,
            )
            return 0
        self._files.handed_over(clip)
        self.stats.written += 1
        log.info(
            "camera %s: clip %s ready: %.1f s, %d frames, %d bytes",
            clip.camera_id,
            clip.id,
            clip.duration_ms / 1000,
            clip.frame_count,
            clip.size_bytes,
        )
        return 1

    def _failed(self, job: ClipJob, attempts: int, exc: Exception) -> None:
        self.stats.failed_writes += 1
        full = getattr(exc, "errno", None) == errno.ENOSPC
        reason = "the disk is full" if full else f"{type(exc).__name__}: {exc}"
        self.stats.last_error = f"camera {job.camera_id}: clip {job.clip_id}: {reason}"
        if attempts > self.config.write_retries:
            self.stats.given_up += 1
            log.error(
                "camera %s: clip %s could not be written after %d attempts (%s); giving it up",
                job.camera_id,
                job.clip_id,
                attempts,
                reason,
            )
            self._on_given_up(job, reason)
            return
        log.error(
            "camera %s: clip %s could not be written to %s (%s); "
            "retrying in %.0f s (attempt %d of %d)",
            job.camera_id,
            job.clip_id,
            self._files.directory,
            reason,
            self.config.write_retry_s,
            attempts,
            self.config.write_retries + 1,
        )
        with self._lock:
            self._retries.append(
                _Retry(job, attempts, time.monotonic() + self.config.write_retry_s)
            )
