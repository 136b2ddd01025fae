"""What producers hand to the local store: records and finished clip files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from agent.errors import AgentError
from protocol import DetectionEvent, LogRecord, Trigger

__all__ = ["ClipSink", "LocalClip", "RecordSink", "StoreUnavailable"]


class StoreUnavailable(AgentError, RuntimeError):
    """The store could not commit within its write timeout (e.g. the disk is full).

    The record was *not* stored; the message says why. The caller decides
    whether to retry (a clip file stays where it is) or to log and move on.
    """


@dataclass(frozen=True, slots=True)
class LocalClip:
    """A clip file complete on disk (written atomically), not yet uploaded.

    Once ``add_clip`` returns, the store owns the files: it uploads them and
    deletes them when the disk quota needs the space (synced clips first).
    """

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
    log_id: UUID | None = None  # the tag (log) it was cut for
    replaces: UUID | None = None  # the clip it re-trims


class RecordSink(Protocol):
    """``add_*`` return once the record is committed (durable); concurrent callers share
    one commit. They block for about one fsync, so never call them from a capture thread.
    They raise :class:`StoreUnavailable` when the store cannot commit in time."""

    def add_log(self, record: LogRecord) -> None: ...

    def add_event(self, record: DetectionEvent) -> None: ...


class ClipSink(Protocol):
    def add_clip(self, clip: LocalClip) -> None: ...
