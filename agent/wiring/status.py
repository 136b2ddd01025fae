"""What the box can tell a coach at the field: the LAN ``/v1/status`` page and the status LED.

One thread samples every couple of seconds (cameras, pending clips, the
store's backlog, free disk) and keeps the result as one immutable snapshot;
readers (HTTP request threads, the LED loop) only take that reference. So a
phone polling the status page never queries the store, and counting a large
backlog happens once per refresh however many ask.

Problem lines say what needs doing: a refused camera's reason (what to
change), a camera reconnecting and why, a dead substream, a nearly full disk,
a part the daemon had to leave out (a busy LAN port: which, and the setting).
A refused camera also makes the LED's fault pattern. Notes are what is worth
knowing but needs nothing: a file camera that has ended, a camera that is
transcoded (from what, with what, at what CPU cost).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.buffer.store import LocalStore
from agent.clock import Clock
from agent.components import LeftOut
from agent.config import AgentConfig
from agent.triggers.led import LedState, led_state
from agent.wiring.capture import CapturePart
from protocol import Backlog, CameraHealth, CameraState, StreamHealth
from protocol.times import format_utc

if TYPE_CHECKING:  # detection (onnxruntime, its model) is loaded only when it is on
    from agent.wiring.detection import DetectionPart

__all__ = ["StatusBoard", "StatusSnapshot"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    at: float
    cameras: list[dict[str, Any]] = field(default_factory=list)
    clips_in_progress: int = 0
    backlog: Backlog | None = None
    free_bytes: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    detection: list[dict[str, Any]] = field(default_factory=list)
    fault: bool = False  # a camera is refused: the LED's fault pattern


class StatusBoard:
    name = "status"

    def __init__(
        self,
        config: AgentConfig,
        store: LocalStore,
        capture: CapturePart,
        detection: DetectionPart | None,
        *,
        clock: Clock,
        interval_s: float = 2.0,
        left_out: LeftOut | None = None,
    ) -> None:
        self._config = config
        self._left_out = left_out or LeftOut()
        self._store = store
        self._capture = capture
        self._detection = detection
        self._clock = clock
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_tick = time.monotonic()
        self._started = time.monotonic()
        self.snapshot = StatusSnapshot(at=clock.time())

    # -- Component -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="sideline-status", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def alive(self) -> bool:
        within = self._config.daemon.liveness_timeout_s
        return (
            self._thread is not None
            and self._thread.is_alive()
            and time.monotonic() - self._last_tick < within
        )

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self._last_tick = time.monotonic()
                try:
                    self.snapshot = self.sample()
                except Exception:  # a busy store: keep the last snapshot, try again
                    log.exception("could not sample the box's status")
                self._stop.wait(self._interval_s)
        finally:
            self._store.release_thread()

    # -- sampling ----------------------------------------------------------------------------

    def sample(self) -> StatusSnapshot:
        now = self._clock.time()
        problems: list[str] = []
        notes: list[str] = []
        cameras = []
        fault = False
        settling = time.monotonic() - self._started < 10.0  # cameras take a moment to open
        for health in self._capture.service.health():
            cameras.append(health.model_dump(mode="json", exclude_none=True))
            fault |= health.state is CameraState.REFUSED
            fault |= health.substream is not None and health.substream.state is CameraState.REFUSED
            _describe(health, f"camera {health.camera_id}", problems, notes, settling)
            if health.substream is not None:
                _describe(
                    health.substream,
                    f"camera {health.camera_id} substream",
                    problems,
                    notes,
                    settling,
                    pause="detection paused, recording goes on",
                )
        for name, reason in self._left_out.items():
            problems.append(f"{name} is off (could not start): {reason}")
        backlog = self._store.outbox.backlog(now)
        free = self._store.retention.free_bytes()
        if free < self._config.buffer.min_free_bytes:
            problems.append(f"disk nearly full: {free // 1024**2} MiB free")
        # The figures the heartbeat sends (frames decoded for detection included).
        detection = (
            [h.model_dump(mode="json", exclude_none=True) for h in self._detection.health()]
            if self._detection is not None
            else []
        )
        if self._detection is not None and self._detection.worker.detector is None:
            problems.append("detection waits for a model: the configured one could not be opened")
        return StatusSnapshot(
            at=now,
            cameras=cameras,
            clips_in_progress=self._capture.service.clip_writer.pending_count,
            backlog=backlog,
            free_bytes=free,
            problems=problems,
            notes=notes,
            detection=detection,
            fault=fault,
        )

    # -- readers -----------------------------------------------------------------------------

    def led_state(self) -> LedState:
        snapshot = self.snapshot
        # Clips in progress are read live: the LED lights the moment a press is taken.
        recording = self._capture.service.clip_writer.pending_count > 0
        uploading = snapshot.backlog is not None and snapshot.backlog.clips > 0
        return led_state(
            recording=recording,
            uploading=uploading,
            error=bool(snapshot.problems),
            fault=snapshot.fault,
        )

    def as_json(self) -> dict[str, Any]:
        snapshot = self.snapshot
        device = self._config.device
        return {
            "device": {"org": device.org, "id": device.id, "name": device.name},
            "at": format_utc(datetime.fromtimestamp(snapshot.at, UTC)),
            "ok": not snapshot.problems,
            "problems": snapshot.problems,
            "notes": snapshot.notes,
            "cameras": snapshot.cameras,
            "clips_in_progress": self._capture.service.clip_writer.pending_count,
            "clip_defaults_s": dict(
                zip(("pre", "post"), self._capture.service.clip_writer.defaults, strict=True)
            ),
            "backlog": (
                snapshot.backlog.model_dump(mode="json") if snapshot.backlog is not None else None
            ),
            "free_bytes": snapshot.free_bytes,
            "detection": snapshot.detection,
        }


def _describe(
    health: StreamHealth | CameraHealth,
    name: str,
    problems: list[str],
    notes: list[str],
    settling: bool,
    *,
    pause: str | None = None,
) -> None:
    """The problem or note lines one stream's health makes."""
    state, reason = health.state, health.reason
    if state is CameraState.REFUSED:
        problems.append(f"{name}: {reason}" + (f" ({pause})" if pause else ""))
    elif state is CameraState.ENDED:
        notes.append(f"{name}: {reason}")
    elif state is not CameraState.STREAMING and not settling:
        because = f": {reason}" if reason else ""
        problems.append(f"{name} is {state.value}{because}" + (f" ({pause})" if pause else ""))
    if health.encoder and health.codec not in (None, "rawvideo"):
        cost = (
            f", about {health.encode_cpu_percent:.0f} % of a core"
            if health.encode_cpu_percent is not None
            else ""
        )
        notes.append(f"{name} is transcoded from {health.codec} with {health.encoder}{cost}")
