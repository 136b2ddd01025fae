"""The store's side of clip uploads: which clip is next, and how far its upload got.

A multipart upload's UploadId and every confirmed part (ETag and SHA-256) are
committed as soon as S3 confirms them, so an agent killed mid-upload resumes
where it was and sends again at most the one part it had not yet recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from peewee import Database

from agent.buffer.models import SyncState, Tables

__all__ = ["PartRecord", "UploadJob", "UploadLedger"]


@dataclass(frozen=True, slots=True)
class UploadJob:
    clip_id: UUID
    path: Path
    thumbnail_path: Path | None
    size_bytes: int
    sha256: str
    object_key: str
    thumbnail_key: str | None
    thumbnail_uploaded: bool
    upload_id: str | None
    upload_started_at: float | None
    attempts: int


@dataclass(frozen=True, slots=True)
class PartRecord:
    part_number: int
    size: int
    etag: str
    checksum_sha256: str  # base64, as S3 wants it in complete_multipart_upload


class UploadLedger:
    def __init__(self, database: Database, tables: Tables) -> None:
        self._database = database
        self._tables = tables

    def next_job(
        self, now: float, max_delay_s: float, skip: set[UUID] | None = None
    ) -> UploadJob | None:
        """The oldest clip whose files still have to go up and whose retry time has come."""
        clips = self._tables.clips
        query = (
            clips.select()
            .where(
                (clips.state << [SyncState.PENDING, SyncState.UPLOADING])
                & (clips.file_present == True)  # noqa: E712 - peewee expression
                & ((clips.next_attempt_at <= now) | (clips.next_attempt_at > now + max_delay_s))
            )
            .order_by(clips.seq)
            .limit(1 + len(skip or ()))
        )
        for row in query:
            if skip and row.id in skip:
                continue
            return UploadJob(
                clip_id=row.id,
                path=Path(row.path),
                thumbnail_path=Path(row.thumbnail_path) if row.thumbnail_path else None,
                size_bytes=row.size_bytes,
                sha256=row.sha256,
                object_key=row.object_key,
                thumbnail_key=row.thumbnail_key,
                thumbnail_uploaded=bool(row.thumbnail_uploaded),
                upload_id=row.upload_id,
                upload_started_at=row.upload_started_at,
                attempts=row.attempts,
            )
        return None

    def next_attempt_at(self) -> float | None:
        """When the earliest waiting clip is due (for the uploader's sleep)."""
        clips = self._tables.clips
        value = (
            clips.select(clips.next_attempt_at)
            .where((clips.state << [SyncState.PENDING, SyncState.UPLOADING]) & clips.file_present)
            .order_by(clips.next_attempt_at)
            .limit(1)
            .scalar()
        )
        return None if value is None else float(value)

    def begin_multipart(self, clip_id: UUID, upload_id: str, now: float) -> None:
        clips = self._tables.clips
        with self._database.atomic("IMMEDIATE"):
            self._tables.parts.delete().where(self._tables.parts.clip_id == clip_id).execute()
            clips.update(
                state=SyncState.UPLOADING, upload_id=upload_id, upload_started_at=now
            ).where(clips.id == clip_id).execute()

    def record_part(self, clip_id: UUID, upload_id: str, part: PartRecord, now: float) -> None:
        parts = self._tables.parts
        parts.insert(
            clip_id=clip_id,
            upload_id=upload_id,
            part_number=part.part_number,
            size=part.size,
            etag=part.etag,
            checksum_sha256=part.checksum_sha256,
            uploaded_at=now,
        ).on_conflict_replace().execute()

    def parts(self, clip_id: UUID, upload_id: str) -> list[PartRecord]:
        parts = self._tables.parts
        return [
            PartRecord(row.part_number, row.size, row.etag, row.checksum_sha256)
            for row in parts.select()
            .where((parts.clip_id == clip_id) & (parts.upload_id == upload_id))
            .order_by(parts.part_number)
        ]

    def forget_multipart(self, clip_id: UUID) -> None:
        """The upload is gone (aborted, expired): start the file over."""
        clips = self._tables.clips
        with self._database.atomic("IMMEDIATE"):
            self._tables.parts.delete().where(self._tables.parts.clip_id == clip_id).execute()
            clips.update(state=SyncState.PENDING, upload_id=None, upload_started_at=None).where(
                (clips.id == clip_id) & (clips.state < SyncState.UPLOADED)
            ).execute()

    def mark_thumbnail_uploaded(self, clip_id: UUID) -> None:
        clips = self._tables.clips
        clips.update(thumbnail_uploaded=True).where(clips.id == clip_id).execute()

    def mark_uploaded(self, clip_id: UUID) -> None:
        clips = self._tables.clips
        with self._database.atomic("IMMEDIATE"):
            self._tables.parts.delete().where(self._tables.parts.clip_id == clip_id).execute()
            clips.update(
                state=SyncState.UPLOADED,
                upload_id=None,
                upload_started_at=None,
                last_error=None,
                next_attempt_at=0,
            ).where((clips.id == clip_id) & (clips.state < SyncState.UPLOADED)).execute()

    def mark_failed(self, clip_id: UUID, error: str, next_attempt_at: float) -> None:
        clips = self._tables.clips
        clips.update(
            attempts=clips.attempts + 1, last_error=error[:500], next_attempt_at=next_attempt_at
        ).where(clips.id == clip_id).execute()

    def mark_rejected(self, clip_id: UUID, reason: str, now: float) -> None:
        """The clip can never be uploaded (its file is gone or no longer matches its checksum)."""
        clips = self._tables.clips
        clips.update(state=SyncState.REJECTED, last_error=reason[:500], synced_at=now).where(
            (clips.id == clip_id) & (clips.state < SyncState.ACKED)
        ).execute()

    def known_upload_ids(self) -> set[str]:
        clips = self._tables.clips
        query: Any = clips.select(clips.upload_id).where(clips.upload_id.is_null(False))
        return {str(row[0]) for row in query.tuples()}
