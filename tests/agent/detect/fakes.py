"""Recording stand-ins for the seams detection writes to (the store, the clip trigger).

The real store and clip writer are other packages; these keep what they are
given so tests can assert on it, through the same Protocols.
"""

from __future__ import annotations

import threading
from uuid import UUID

from agent.interfaces.triggers import ClipRequest, TriggerRejected
from protocol import DetectionEvent, DetectionEventKind, LogRecord, new_id

__all__ = ["RecordingSink", "RecordingTrigger"]


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[DetectionEvent] = []
        self.logs: list[LogRecord] = []
        self._lock = threading.Lock()

    def add_event(self, record: DetectionEvent) -> None:
        with self._lock:
            self.events.append(record)

    def add_log(self, record: LogRecord) -> None:
        with self._lock:
            self.logs.append(record)

    def of_kind(self, kind: DetectionEventKind) -> list[DetectionEvent]:
        return [e for e in self.events if e.kind == kind]


class RecordingTrigger:
    def __init__(self, reject: str | None = None) -> None:
        self.requests: list[ClipRequest] = []
        self.clip_ids: list[UUID] = []
        self.reject = reject

    def request_clip(self, request: ClipRequest) -> list[UUID]:
        self.requests.append(request)
        if self.reject is not None:
            raise TriggerRejected(self.reject)
        clip_id = new_id()
        self.clip_ids.append(clip_id)
        return [clip_id]
