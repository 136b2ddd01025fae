"""Puts clip files into S3, one at a time, resuming multipart uploads after a crash.

For each clip: the thumbnail (one PUT), then the MP4 — one PUT below the
multipart threshold, else a multipart upload driven part by part. Every part's
ETag and SHA-256 is committed to SQLite the moment S3 confirms it, so after a
``kill -9`` the upload resumes (``list_parts`` tells which confirmed parts the
server still has) and at most the one unrecorded part is sent again. Before
completing, the whole file's SHA-256 is checked against the clip's recorded
one: a file that changed on the SD card is refused, not published.

Only when both objects are complete does the clip become UPLOADED, which is
what lets the publisher send its record.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path

from agent.buffer.store import LocalStore
from agent.buffer.uploads import PartRecord, UploadJob
from agent.clock import Clock
from agent.sync.backoff import Backoff
from agent.sync.config import S3Config, SyncConfig
from agent.sync.objectstore import ErrorKind, FilePart, ObjectStore, ObjectStoreError

__all__ = ["ClipUploader", "UploaderStats"]

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 2.0
_CLEANUP_EVERY_S = 3600.0
_MAX_PARTS = 10_000


class _Stopped(Exception):
    """The uploader was asked to stop between two parts."""


class UploaderStats:
    def __init__(self) -> None:
        self.files_uploaded = 0
        self.parts_uploaded = 0
        self.bytes_uploaded = 0
        self.failures = 0
        self.last_error: str | None = None


class ClipUploader:
    def __init__(
        self,
        store: LocalStore,
        objects: ObjectStore,
        s3: S3Config,
        sync: SyncConfig,
        *,
        clock: Clock,
    ) -> None:
        self._store = store
        self._objects = objects
        self._s3 = s3
        self._sync = sync
        self._clock = clock
        self._stop = threading.Event()
        self._last_tick = time.monotonic()
        self._next_cleanup = 0.0
        self.stats = UploaderStats()

    def alive(self, within_s: float) -> bool:
        return time.monotonic() - self._last_tick < within_s

    def stop(self) -> None:
        self._stop.set()
        self._store.uploads_due.set()

    def run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            if time.monotonic() >= self._next_cleanup:
                self._cleanup()
            job = self._store.uploads.next_job(self._clock.time(), self._sync.upload_retry_max_s)
            if job is None:
                self._store.uploads_due.wait(_IDLE_WAIT_S)
                self._store.uploads_due.clear()
                continue
            try:
                self._upload_one(job)
            except _Stopped:
                return
            except Exception as exc:  # the store refused the outcome too (full disk): next turn
                self._store.report_error(exc)
                log.error("clip %s: could not record the upload's outcome: %s", job.clip_id, exc)
                self._stop.wait(1.0)

    def _upload_one(self, job: UploadJob) -> None:
        try:
            self._upload(job)
        except ObjectStoreError as exc:
            self._failed(job, exc)
        except OSError as exc:
            self._file_problem(job, exc)
        except _Stopped:
            raise
        except Exception as exc:  # a bug or a store error must not end the uploader
            self._store.report_error(exc)
            log.exception("uploading clip %s failed unexpectedly", job.clip_id)
            self._failed(job, ObjectStoreError(ErrorKind.TRANSIENT, repr(exc)))

    def tick(self, _bytes_sent: int = 0) -> None:
        """Called as bytes flow too: a long upload on a slow link is alive."""
        self._last_tick = time.monotonic()

    def _between_parts(self) -> None:
        self.tick()
        if self._stop.is_set():
            raise _Stopped

    # --- one clip ------------------------------------------------------------

    def _upload(self, job: UploadJob) -> None:
        if job.thumbnail_path is not None and job.thumbnail_key and not job.thumbnail_uploaded:
            digest = _file_sha256(job.thumbnail_path)
            self._objects.put_file(
                job.thumbnail_key, job.thumbnail_path, sha256=digest, content_type="image/jpeg"
            )
            self._store.uploads.mark_thumbnail_uploaded(job.clip_id)
            self.stats.bytes_uploaded += job.thumbnail_path.stat().st_size
        existing = self._objects.head(job.object_key)
        if (
            existing is not None
            and existing.sha256 == job.sha256
            and existing.size == job.size_bytes
        ):
            # Uploaded before a crash that came ahead of our commit.
            self._done(job)
            return
        if job.size_bytes < self._s3.multipart_threshold_bytes:
            self._objects.put_file(
                job.object_key, job.path, sha256=job.sha256, content_type="video/mp4"
            )
            self.stats.bytes_uploaded += job.size_bytes
            self._done(job)
            return
        self._upload_multipart(job)

    def _upload_multipart(self, job: UploadJob) -> None:
        part_size = max(self._s3.part_size_bytes, -(-job.size_bytes // _MAX_PARTS))
        upload_id, confirmed = self._resume(job, part_size)
        if upload_id is None:
            upload_id = self._objects.create_multipart(
                job.object_key, sha256=job.sha256, content_type="video/mp4"
            )
            self._store.uploads.begin_multipart(job.clip_id, upload_id, self._clock.time())
            confirmed = {}
        whole = hashlib.sha256()
        parts: list[PartRecord] = []
        count = -(-job.size_bytes // part_size)
        with job.path.open("rb") as handle:
            for number in range(1, count + 1):
                self._between_parts()
                digest = hashlib.sha256()
                body = FilePart.measure(handle, (number - 1) * part_size, part_size, whole, digest)
                if number in confirmed:
                    parts.append(confirmed[number])
                    continue
                part = self._objects.upload_part(
                    job.object_key, upload_id, number, body, digest.hexdigest()
                )
                self._store.uploads.record_part(job.clip_id, upload_id, part, self._clock.time())
                parts.append(part)
                self.stats.parts_uploaded += 1
                self.stats.bytes_uploaded += body.size
        if whole.hexdigest() != job.sha256:
            self._objects.abort(job.object_key, upload_id)
            self._store.uploads.forget_multipart(job.clip_id)
            self._reject(
                job, "the file on disk no longer matches its SHA-256 (storage corruption?)"
            )
            return
        try:
            self._objects.complete(job.object_key, upload_id, parts)
        except ObjectStoreError as exc:
            if exc.kind is ErrorKind.NO_UPLOAD:
                self._store.uploads.forget_multipart(job.clip_id)
            raise
        self._done(job)

    def _resume(self, job: UploadJob, part_size: int) -> tuple[str | None, dict[int, PartRecord]]:
        """The upload to continue and its parts S3 still has, or (None, {}) to start over."""
        if job.upload_id is None:
            return None, {}
        age = self._clock.time() - (job.upload_started_at or 0.0)
        if not 0 <= age < self._s3.stale_upload_s:
            log.info("clip %s: multipart upload is %.0f s old; starting it over", job.clip_id, age)
            self._objects.abort(job.object_key, job.upload_id)
            self._store.uploads.forget_multipart(job.clip_id)
            return None, {}
        on_server = self._objects.list_parts(job.object_key, job.upload_id)
        if on_server is None:
            log.info("clip %s: its multipart upload is gone from S3; starting over", job.clip_id)
            self._store.uploads.forget_multipart(job.clip_id)
            return None, {}
        recorded = self._store.uploads.parts(job.clip_id, job.upload_id)
        confirmed = {
            p.part_number: p
            for p in recorded
            if on_server.get(p.part_number) == p.etag
            and (p.size == part_size or p.part_number == -(-job.size_bytes // part_size))
        }
        log.info(
            "clip %s: resuming upload %s with %d of its parts already in S3",
            job.clip_id,
            job.upload_id[:12],
            len(confirmed),
        )
        return job.upload_id, confirmed

    # --- outcomes ------------------------------------------------------------

    def _done(self, job: UploadJob) -> None:
        self._store.uploads.mark_uploaded(job.clip_id)
        self.stats.files_uploaded += 1
        log.info("clip %s is in S3 (%s, %d bytes)", job.clip_id, job.object_key, job.size_bytes)

    def _failed(self, job: UploadJob, exc: ObjectStoreError) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        if exc.kind is ErrorKind.BAD_DIGEST and _file_sha256(job.path) != job.sha256:
            self._reject(
                job, "the file on disk no longer matches its SHA-256 (storage corruption?)"
            )
            return
        backoff = Backoff(self._sync.upload_retry_min_s, self._sync.upload_retry_max_s)
        for _ in range(job.attempts):
            backoff.next_delay()
        delay = backoff.max_s if exc.kind is ErrorKind.CONFIG else backoff.next_delay()
        level = logging.ERROR if exc.kind is ErrorKind.CONFIG else logging.WARNING
        log.log(level, "clip %s: upload failed (%s); retrying in %.0f s", job.clip_id, exc, delay)
        self._store.uploads.mark_failed(job.clip_id, str(exc), self._clock.time() + delay)

    def _file_problem(self, job: UploadJob, exc: OSError) -> None:
        if not job.path.exists():
            self._reject(job, f"its file {job.path} is gone")
        else:
            self._failed(job, ObjectStoreError(ErrorKind.TRANSIENT, f"reading {job.path}: {exc}"))

    def _reject(self, job: UploadJob, reason: str) -> None:
        log.error("clip %s cannot be uploaded: %s", job.clip_id, reason)
        self._store.uploads.mark_rejected(job.clip_id, reason, self._clock.time())

    # --- housekeeping --------------------------------------------------------

    def _cleanup(self) -> None:
        """Abort multipart uploads under our prefix that SQLite does not know (orphans of
        a crash between create and commit) or that have gone stale."""
        self._next_cleanup = time.monotonic() + _CLEANUP_EVERY_S
        identity = self._store.identity
        try:
            pending = self._objects.pending_uploads(f"{identity.org}/{identity.device_id}/")
        except ObjectStoreError as exc:
            log.warning(
                "cannot list our multipart uploads (%s); relying on the bucket's lifecycle rule "
                "(AbortIncompleteMultipartUpload) to remove orphans",
                exc,
            )
            return
        known = self._store.uploads.known_upload_ids()
        for upload in pending:
            if upload.upload_id in known:
                continue
            try:
                self._objects.abort(upload.key, upload.upload_id)
                log.info("aborted orphaned multipart upload of %s", upload.key)
            except ObjectStoreError as exc:
                log.warning("could not abort the orphaned upload of %s: %s", upload.key, exc)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()
