"""The types that cross between agent subsystems, owned by none of them.

Capture, detection, the triggers and the store meet only here, so capture
knows no store and detection knows no camera:

- ``frames``: :class:`Frame`, :class:`FrameListener` (capture → detection, preview);
- ``triggers``: :class:`ClipRequest`, :class:`ClipTrigger`, :class:`TriggerRejected`
  (every trigger → the clip writer);
- ``sinks``: :class:`LocalClip`, :class:`RecordSink`, :class:`ClipSink`,
  :class:`StoreUnavailable` (producers → the local store).
"""

from agent.interfaces.frames import Frame, FrameListener
from agent.interfaces.sinks import (
    ClipLedger,
    ClipPromise,
    ClipSink,
    LocalClip,
    RecordSink,
    StoreUnavailable,
)
from agent.interfaces.triggers import ClipRequest, ClipTrigger, TriggerRejected

__all__ = [
    "ClipLedger",
    "ClipPromise",
    "ClipRequest",
    "ClipSink",
    "ClipTrigger",
    "Frame",
    "FrameListener",
    "LocalClip",
    "RecordSink",
    "StoreUnavailable",
    "TriggerRejected",
]
