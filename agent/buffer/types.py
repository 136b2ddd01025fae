"""What producers hand to the local store: records and finished clip files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from protocol import DetectionEvent, LogRecord, Trigger

__all__ = ["ClipSink", "LocalClip", "RecordSink"]


@dataclass(frozen=True, slots=True)
class LocalClip:
    """A clip file complete on disk (written atomically), not yet uploaded."""

    id: UUID  # UUIDv7 minted when the clip was triggered
    camera_id: str
    path: Path  # the MP4 (H.264, faststart)
    thumbnail_path: Path | None  # JPEG
    started_at: datetime  # first frame (a keyframe), UTC
    ended_at: datetime  # last frame, UTC
    triggers: tuple[Trigger, ...]  # every trigger merged into it, oldest first
    session_id: UUID | None
    size_bytes: int
    sha256: str  # hex of the whole file
    duration_ms: int
    frame_count: int
    width: int
    height: int


class RecordSink(Protocol):
    def add_log(self, record: LogRecord) -> None: ...

    def add_event(self, record: DetectionEvent) -> None: ...


class ClipSink(Protocol):
    def add_clip(self, clip: LocalClip) -> None: ...
