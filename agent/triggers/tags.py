"""Tags from the box: a log of the moment and a clip of it from every camera.

A coach presses a tag button (or long-presses the clip button): the moment is
the press. The log (source ``marker``, the tag's type and values, and its clip
window) goes to the store first, so it flows to the cloud through the outbox
like every record, whatever happens to the clips; then every camera of the box
is asked for ``[press - lead_s, press + lag_s]`` from its recording, each clip
naming the log. A camera that cannot cut it (no video that far back, no
camera) is written down as a system log, so the refusal reaches the cloud too.
The cloud asks the session's other boxes for the same window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from agent.interfaces.sinks import RecordSink
from agent.interfaces.triggers import RangeClipper, RangeClipRequest, TriggerRejected
from agent.triggers.config import TagConfig
from protocol import ClipWindow, LogRecord, LogSource, Trigger, TriggerSource, new_id

__all__ = ["TagResult", "Tagger"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TagResult:
    log_id: UUID
    clip_ids: list[UUID] = field(default_factory=list)
    refused: str | None = None  # why no clip was cut on this box


class Tagger:
    def __init__(
        self,
        records: RecordSink,
        clipper: RangeClipper | None,
        *,
        active_session: Callable[[], UUID | None] = lambda: None,
    ) -> None:
        self._records = records
        self._clipper = clipper
        self._active_session = active_session
        self.tags = 0

    def tag(self, tag: TagConfig, at: datetime, *, by: str) -> TagResult:
        """Write the tag's log, then ask for its clips; raises only if the log cannot be stored."""
        session = self._active_session()
        record = LogRecord(
            id=new_id(),
            session_id=session,
            camera_id=tag.camera_id,
            occurred_at=at,
            source=LogSource.MARKER,
            type=tag.type,
            data={**tag.data, "by": by},
            clip=ClipWindow(lead_s=tag.lead_s, lag_s=tag.lag_s),
        )
        self._records.add_log(record)
        self.tags += 1
        if self._clipper is None:
            return self._refused(record, tag, "no camera capture is running on this box")
        request = RangeClipRequest(
            trigger=Trigger(
                source=TriggerSource.BUTTON, at=record.occurred_at, by=by, note=tag.type
            ),
            start=record.occurred_at - timedelta(seconds=tag.lead_s),
            end=record.occurred_at + timedelta(seconds=tag.lag_s),
            camera_id=tag.camera_id,
            session_id=session,
            log_id=record.id,
        )
        try:
            clip_ids = self._clipper.clip_range(request)
        except TriggerRejected as exc:
            return self._refused(record, tag, str(exc))
        log.info(
            "tag %s (%s): log %s, clip %s",
            tag.type,
            by,
            record.id,
            ", ".join(str(i) for i in clip_ids),
        )
        return TagResult(record.id, clip_ids)

    def _refused(self, record: LogRecord, tag: TagConfig, reason: str) -> TagResult:
        log.warning(
            "tag %s: log %s stored, but no clip on this box: %s", tag.type, record.id, reason
        )
        try:
            self._records.add_log(
                LogRecord(
                    id=new_id(),
                    session_id=record.session_id,
                    camera_id=tag.camera_id,
                    occurred_at=record.occurred_at,
                    source=LogSource.SYSTEM,
                    type="tag_clip_refused",
                    data={"log_id": str(record.id), "reason": reason[:500]},
                )
            )
        except Exception:
            log.exception("the refusal of tag %s could not be stored", record.id)
        return TagResult(record.id, [], reason)
