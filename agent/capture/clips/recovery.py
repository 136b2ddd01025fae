"""At start-up: the presses a power cut (or a crash) interrupted, made or reported.

Every clip a trigger was promised is in the store until its file is handed
over (:class:`agent.interfaces.sinks.ClipLedger`). What is still promised
when capture starts was interrupted: during its post-roll, its write, or before
its manifest reached the store. Interrupted *writes* are handled first
(:func:`agent.capture.clips.atomic.recover_directory` hands a complete MP4 to the
store, which ends its promise; partial files are deleted). For each promise
left:

* when continuous recording left segments that cover part of its window, the
  clip is cut from them (the same writer, the same id and triggers: the cloud
  gets the clip the coach was promised, ending where the recording stopped);
* otherwise its video was only in memory: it is reported as a failed clip,
  ``power_lost``, with the reason, so the timeline shows what happened to the
  press instead of nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from agent.capture.clips.writer import ClipWriter, RangeJob
from agent.capture.packets import EncodedPacket
from agent.capture.recording.recorder import SegmentRecorder
from agent.interfaces.sinks import ClipLedger, ClipPromise
from protocol import ClipFailureReason

__all__ = ["MEMORY_ONLY", "NOTHING_ON_DISK", "recover_promises"]

log = logging.getLogger(__name__)

MEMORY_ONLY = (
    "power lost before the clip was complete: the box stopped during the clip's "
    "post-roll, and its video was only in memory (continuous recording is off)"
)
NOTHING_ON_DISK = (
    "power lost before the clip was complete: the box stopped during the clip's "
    "post-roll, and no recorded video of its window was readable"
)


def recover_promises(
    ledger: ClipLedger,
    writer: ClipWriter,
    recorder: SegmentRecorder,
    cameras: Sequence[str],
    *,
    load: Callable[[str, float, float], Sequence[EncodedPacket]] | None = None,
) -> tuple[int, int]:
    """Cut or fail every open promise; returns (cut from segments, reported failed)."""
    cut = failed = 0
    for promise in ledger.promised_clips():
        start, end = promise.start.timestamp(), promise.end.timestamp()
        covered = promise.camera_id in cameras and any(
            segment.start < end and segment.end > start
            for segment in recorder.segments(promise.camera_id)
        )
        if covered:
            read = load or recorder.packets_between
            writer.submit_range(
                _range_job(promise, functools.partial(_from_disk, read, promise.camera_id)),
                promised=True,
            )
            cut += 1
            log.warning(
                "camera %s: clip %s was interrupted (power cut or crash); cutting it from "
                "the recorded segments",
                promise.camera_id,
                promise.id,
            )
            continue
        message = MEMORY_ONLY
        if promise.camera_id not in cameras:
            message = (
                "power lost before the clip was complete, and its camera is no longer "
                "configured on this box"
            )
        ledger.fail_clip(promise, ClipFailureReason.POWER_LOST, message)
        failed += 1
    return cut, failed


def _from_disk(
    read: Callable[[str, float, float], Sequence[EncodedPacket]],
    camera_id: str,
    start: float,
    end: float,
    tail: Sequence[EncodedPacket] | None,
) -> Sequence[EncodedPacket]:
    return read(camera_id, start, end)  # nothing is followed: the camera of then is gone


def _range_job(
    promise: ClipPromise, load: Callable[[float, float, Sequence[EncodedPacket] | None], Any]
) -> RangeJob:
    start, end = promise.start.timestamp(), promise.end.timestamp()
    return RangeJob(
        clip_id=promise.id,
        camera_id=promise.camera_id,
        start=start,
        end=end,
        load=functools.partial(load, start, end),
        triggers=promise.triggers,
        session_id=promise.session_id,
        width=promise.width,
        height=promise.height,
        if_empty=(ClipFailureReason.POWER_LOST, NOTHING_ON_DISK),
    )
