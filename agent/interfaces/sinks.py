"""What producers hand to the local store: records, finished clip files, and promised clips.

A clip is *promised* the moment a trigger is told its id ("clip coming"): the
promise is durable before that (:class:`ClipLedger`), so that after a power cut
the box either makes the clip from what it has on disk or reports it to the
cloud as a failed clip with the reason; no press is forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from agent.errors import AgentError
from protocol import ClipFailureReason, DetectionEvent, LogRecord, Trigger

__all__ = [
    "ClipLedger",
    "ClipPromise",
    "ClipSink",
    "LocalClip",
    "RecordSink",
    "StoreUnavailable",
]


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


@dataclass(frozen=True, slots=True)
class ClipPromise:
    """A clip a trigger was given the id of, before its file exists."""

    id: UUID
    camera_id: str
    start: datetime  # the window asked for, UTC
    end: datetime
    triggers: tuple[Trigger, ...]  # every trigger merged into it so far, oldest first
    session_id: UUID | None
    width: int  # the camera's stream when the trigger came
    height: int


class ClipLedger(Protocol):
    """Where promised clips are kept until they are made or failed (the local store).

    ``promise_clip`` returns once the promise is durable (it replaces an earlier
    promise of the same id: a merged trigger widens it; it is a no-op once the clip
    exists). ``add_clip`` of the clip's file ends the promise. ``fail_clip`` ends it
    with a failed clip record for the cloud. ``promised_clips`` lists the open
    ones (at start-up: the presses a power cut interrupted).
    """

    def promise_clip(self, promise: ClipPromise) -> None: ...

    def fail_clip(self, promise: ClipPromise, reason: ClipFailureReason, message: str) -> None: ...

    def promised_clips(self) -> list[ClipPromise]: ...
