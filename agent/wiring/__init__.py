"""Building capture, detection and the triggers for the daemon: :func:`build_parts`.

The store and sync are wired by the daemon itself; everything that produces
clips, events and logs is built here and handed back as
:class:`agent.components.AgentParts`, in the order the daemon starts them
(and stops them in reverse): capture, detection, the status board, then the
triggers. So on SIGTERM the button and the LAN endpoint stop taking presses
first, and capture stops last, flushing the clips those presses asked for.

Data flows one way: cameras → capture (ring, clips, recording) and frames →
detection (events, rule clips through capture's clip writer) → the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from agent.buffer.store import LocalStore
from agent.clock import Clock
from agent.components import AgentParts, LeftOut
from agent.config import AgentConfig
from agent.triggers.tags import Tagger
from agent.wiring.capture import CapturePart
from agent.wiring.metrics import AgentMetrics, SyncFigures
from agent.wiring.status import StatusBoard
from agent.wiring.triggers import ButtonPart, LanPart

__all__ = ["PartsContext", "PartsFactory", "build_parts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartsContext:
    config: AgentConfig
    store: LocalStore  # a RecordSink and ClipSink: add_log / add_event / add_clip
    clock: Clock
    active_session: Callable[[], UUID | None]  # from the cloud's desired state, may be None
    left_out: LeftOut = field(default_factory=LeftOut)  # parts the daemon could not start
    sync: Callable[[], SyncFigures] | None = None  # the daemon's sync counters, for /metrics


PartsFactory = Callable[[PartsContext], AgentParts]


def build_parts(context: PartsContext) -> AgentParts:
    """Capture, detection, the status board and the configured triggers, ready to start."""
    config = context.config
    parts = AgentParts()
    # The store keeps every promised clip durable: a press survives a power cut.
    capture = CapturePart(config, context.store, context.active_session, ledger=context.store)
    parts.components.append(capture)
    parts.camera_health.append(capture.service.health)
    parts.desired_listeners.append(capture.apply_desired)
    parts.targets.clip_trigger = capture.service.clip_writer
    parts.targets.range_clipper = capture
    parts.targets.recording = capture

    detection = None
    if config.detect.enabled:
        # Imported only when on: onnxruntime and the detector cost a box without
        # detection ~30 MiB of memory for nothing (docs/budget.md).
        from agent.wiring.detection import build_detection

        detection = build_detection(config, context.store, capture, context.clock)
    else:
        log.info("detection is off (detect.enabled = false)")
    if detection is not None:
        parts.components.append(detection)
        parts.detection_health.append(detection.health)
        parts.desired_listeners.append(detection.apply_desired)

    board = StatusBoard(
        config, context.store, capture, detection, clock=context.clock, left_out=context.left_out
    )
    parts.components.append(board)

    tagger = Tagger(context.store, capture, active_session=context.active_session)
    for index, button in enumerate(config.triggers.all_buttons):
        first = index == 0 and config.triggers.button is not None
        parts.components.append(
            ButtonPart(
                button,
                capture.service.clip_writer,
                context.store,
                board,
                context.active_session,
                tagger=tagger,
                name="button" if first else f"button-{str(button.pin).lower()}",
            )
        )
    if config.triggers.lan.enabled:
        metrics = AgentMetrics(
            board, capture, detection, data_dir=context.store.path.parent, sync=context.sync
        )
        parts.components.append(
            LanPart(config.triggers.lan, capture.service.clip_writer, board, metrics=metrics.render)
        )
    log.info(
        "built %s",
        ", ".join(component.name for component in parts.components),
    )
    return parts
