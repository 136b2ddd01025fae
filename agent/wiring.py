"""Construction points for capture, detection and triggers: the daemon calls :func:`build_parts`.

The store and sync are wired by the daemon itself. Capture (``agent/capture``),
detection (``agent/detect``) and the triggers (``agent/triggers``) are built
here and handed back as :class:`agent.components.AgentParts`; what each must
provide is spelled out below. Until they are merged, this returns no parts and
says so in the log: the daemon then runs the store, sync, heartbeat and
watchdog on their own (records and clips produced by other means still sync).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from agent.buffer.store import LocalStore
from agent.clock import Clock
from agent.components import AgentParts
from agent.config import AgentConfig

__all__ = ["PartsContext", "PartsFactory", "build_parts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartsContext:
    config: AgentConfig
    store: LocalStore  # a RecordSink and ClipSink: add_log / add_event / add_clip
    clock: Clock
    active_session: Callable[[], UUID | None]  # from the cloud's desired state, may be None


PartsFactory = Callable[[PartsContext], AgentParts]


def build_parts(context: PartsContext) -> AgentParts:
    """Build capture, detection and triggers for the daemon.

    CONSTRUCTION POINT — capture (agent/capture), to be wired after merging:
      * a Component (``name``, ``start()``, ``stop(timeout_s)``, ``alive()``) that
        runs every configured camera; ``alive()`` only while each camera loop ticks
        (reconnecting counts as ticking; a hung driver does not);
      * it writes finished clips with ``context.store.add_clip(LocalClip(...))``
        (files complete and renamed into place first; the store owns them after);
      * ``AgentParts.targets.clip_trigger``: its ClipTrigger (cloud ``trigger_clip``);
        ``targets.range_clipper`` when recording is enabled (cloud ``clip_range``);
        ``targets.recording`` for ``start_recording``/``stop_recording``;
      * ``AgentParts.camera_health``: a callable returning ``list[CameraHealth]``;
      * a desired-state listener for ``clip_defaults``, ``recording`` and the
        active session, which it puts on clips whose request names none.

    CONSTRUCTION POINT — detection (agent/detect):
      * a Component whose ``alive()`` follows its inference loop;
      * a FrameListener registered with capture; events through
        ``context.store.add_event(DetectionEvent(...))``, summaries through
        ``add_log``; rule clips through the same ClipTrigger (source "rule");
      * ``AgentParts.detection_health``: a callable returning ``list[DetectionHealth]``;
      * a desired-state listener for the ``detection`` toggles and ``model``.

    CONSTRUCTION POINT — triggers (agent/triggers): the GPIO button and the LAN
    endpoint as Components calling the ClipTrigger; long presses write marker logs
    with ``add_log``.
    """
    parts = AgentParts()
    cameras = ", ".join(camera.id for camera in context.config.cameras)
    log.warning(
        "camera capture and detection are not wired into this build yet (cameras %s "
        "configured): running the store, sync, heartbeat and watchdog only",
        cameras,
    )
    return parts
