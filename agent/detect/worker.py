"""The detection worker: its own thread, its own rate, never in capture's way.

Capture calls :meth:`DetectionWorker.on_frame` on its own thread for every
low-resolution frame. That call only compares a timestamp and swaps one
reference under a lock held for microseconds: each camera has a one-slot
mailbox holding the newest frame that is due for detection (``fps`` per
camera). If the worker has not taken the previous due frame yet, that frame is
replaced and counted as ``skipped_busy``: detection skips frames, recording
never waits. The worker thread takes due frames round-robin across cameras
and runs each camera's pipeline (motion gate, detector, tracker, zones, rules).

The model can be swapped at any time (:meth:`swap_detector`); the swap takes
effect at the next frame. If the new model fails on its first real frame, the
worker rolls back to the previous one and reports it. A worker may also start
with no model at all (the configured one could not be opened): it then only
keeps each camera's newest frame, reports detection as disabled, and starts
detecting when a model is swapped in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import JsonValue

from agent.detect.config import DetectConfig
from agent.detect.detector import Detector
from agent.detect.events import utc
from agent.detect.overlay import PreviewFrame, draw_overlay
from agent.detect.pipeline import CameraPipeline
from agent.detect.stats import CameraStats
from agent.detect.toggles import Toggles
from agent.interfaces.frames import Frame
from agent.interfaces.sinks import RecordSink
from agent.interfaces.triggers import ClipTrigger
from protocol import DetectionHealth, DetectionToggles, LogRecord, LogSource, new_id

__all__ = ["DetectionWorker"]

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    """One camera's mailbox; ``pending`` and ``next_due`` are guarded by the worker's lock."""

    pending: Frame | None = None
    next_due: float = 0.0
    latest: Frame | None = None  # newest frame seen, for the preview (a plain reference swap)


class DetectionWorker:
    def __init__(
        self,
        config: DetectConfig,
        camera_ids: list[str],
        detector: Detector | None,
        sink: RecordSink,
        trigger: ClipTrigger | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.sink = sink
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._detector = detector
        # Until a newly swapped-in model has run on a real frame, what to roll back to.
        self._unproven = False
        self._previous: Detector | None = None
        self._masks: dict[str, tuple[Detector, npt.NDArray[np.bool_] | None]] = {}
        self.toggles = Toggles(config, camera_ids)
        if detector is not None:
            self.toggles.set_model_classes(detector.classes)
        self._slots = {camera_id: _Slot() for camera_id in camera_ids}
        self.stats = {camera_id: CameraStats(camera_id, monotonic) for camera_id in camera_ids}
        now = clock()
        self.pipelines = {
            camera_id: CameraPipeline(camera_id, config, trigger, self.stats[camera_id], now)
            for camera_id in camera_ids
        }
        self._periods = {
            camera_id: 1.0 / (config.camera(camera_id).fps or config.fps)
            for camera_id in camera_ids
        }
        self._next_summary = now + config.events.summary_interval_s
        self._last_tick = time.monotonic()

    # --- capture's thread ---------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        """The :class:`FrameListener`: keep the frame if it is due; never blocks."""
        slot = self._slots.get(frame.camera_id)
        if slot is None:
            return
        slot.latest = frame
        if self._detector is None or not self.toggles.camera_enabled(frame.camera_id):
            return
        period = self._periods[frame.camera_id]
        with self._lock:
            if frame.captured_at < slot.next_due - 2 * period:
                slot.next_due = frame.captured_at  # the clock stepped back (NTP): start again
            if frame.captured_at < slot.next_due:
                return
            if slot.pending is not None:
                self.stats[frame.camera_id].skipped_busy += 1
            slot.pending = frame
            slot.next_due += period
            if slot.next_due <= frame.captured_at:  # first frame, or after a gap
                slot.next_due = frame.captured_at + period
        self._wake.set()

    def record_decoded(self, camera_id: str, count: int = 1) -> None:
        """Capture tells: it decoded ``count`` frames only for detection (single-stream camera).

        Reported as ``frames_decoded`` in the heartbeat, apart from capture's own work.
        """
        stats = self.stats.get(camera_id)
        if stats is not None:
            stats.frames_decoded += count

    # --- the worker's thread -------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the detection worker is already started")
        self._thread = threading.Thread(target=self.run, name="detect", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("detection worker did not stop within %.1f s", timeout)

    def alive(self, within_s: float) -> bool:
        """The worker thread runs and its loop turned within ``within_s`` (one inference is
        far shorter; a hung execution provider is not)."""
        thread = self._thread
        return (
            thread is not None
            and thread.is_alive()
            and time.monotonic() - self._last_tick < within_s
        )

    def run(self) -> None:
        """Process due frames until :meth:`stop`."""
        order = list(self._slots)
        turn = 0
        while not self._stop.is_set():
            self._last_tick = time.monotonic()
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            while not self._stop.is_set():
                self._last_tick = time.monotonic()
                frames = self._take_due(order[turn:] + order[:turn])
                turn = (turn + 1) % max(1, len(order))
                if not frames:
                    break
                for frame in frames:
                    self._process(frame)
            self._maybe_summarise()

    def process_pending(self) -> int:
        """Process every due frame now, on the caller's thread (for tests and benchmarks)."""
        frames = self._take_due(list(self._slots))
        for frame in frames:
            self._process(frame)
        return len(frames)

    def _take_due(self, order: list[str]) -> list[Frame]:
        frames = []
        with self._lock:
            for camera_id in order:
                slot = self._slots[camera_id]
                if slot.pending is not None:
                    frames.append(slot.pending)
                    slot.pending = None
        return frames

    def _process(self, frame: Frame) -> None:
        camera_id = frame.camera_id
        detector = self._detector
        if detector is None:
            return  # queued just before a roll-back to no model
        pipeline = self.pipelines[camera_id]
        try:
            events = pipeline.process(frame, detector, self._class_mask(camera_id, detector))
        except Exception:
            self.stats[camera_id].errors += 1
            log.exception("detection failed on camera %s frame %d", camera_id, frame.index)
            self._roll_back_if_unproven(detector)
            return
        if self._unproven and detector is self._detector:
            self._unproven, self._previous = False, None  # it has worked on a real frame
        for event in events:
            try:
                self.sink.add_event(event)
            except Exception:
                log.exception("could not store detection event %s", event.id)

    def _class_mask(self, camera_id: str, detector: Detector) -> npt.NDArray[np.bool_] | None:
        cached = self._masks.get(camera_id)
        if cached is not None and cached[0] is detector:
            return cached[1]
        mask = detector.class_mask(self.toggles.classes(camera_id))
        self._masks[camera_id] = (detector, mask)
        return mask

    # --- model swap ------------------------------------------------------------

    @property
    def detector(self) -> Detector | None:
        """The running model; None while the worker waits for one."""
        return self._detector

    def swap_detector(self, detector: Detector) -> None:
        """Run ``detector`` from the next frame on; tracks restart if the classes differ.
        Until it has worked on a real frame, a failure rolls back to the model before."""
        previous = self._set_detector(detector)
        self._unproven, self._previous = True, previous
        log.info("detection model now %s (sha256 %s)", detector.model.path, detector.model.sha256)

    def _set_detector(self, detector: Detector | None) -> Detector | None:
        with self._lock:
            old, self._detector = self._detector, detector
            self._masks.clear()
        if detector is not None:
            self.toggles.set_model_classes(detector.classes)
        if old is None or detector is None or old.classes != detector.classes:
            for pipeline in self.pipelines.values():
                pipeline.request_reset()  # on the detection thread, before its next frame
        return old

    def _roll_back_if_unproven(self, failed: Detector) -> None:
        if not self._unproven or failed is not self._detector:
            return
        previous = self._previous
        log.error(
            "model %s failed on its first frame; rolling back to %s",
            failed.model.path,
            previous.model.path if previous is not None else "no model (detection waits)",
        )
        self._set_detector(previous)
        self._unproven, self._previous = False, None
        self._log(
            "model_rolled_back",
            None,
            {"failed": str(failed.model.path), "sha256": failed.model.sha256},
        )

    # --- control and reporting -------------------------------------------------

    def apply_toggles(self, toggles: DetectionToggles) -> None:
        """The cloud's desired state: narrows the configured cameras and classes."""
        was = {camera_id: self.toggles.camera_enabled(camera_id) for camera_id in self._slots}
        self.toggles.apply(toggles)
        self._masks.clear()
        for camera_id, enabled in was.items():
            if enabled and not self.toggles.camera_enabled(camera_id):
                with self._lock:
                    self._slots[camera_id].pending = None
                self.pipelines[camera_id].request_reset()

    def health(self) -> list[DetectionHealth]:
        running = self._detector is not None
        return [
            self.stats[camera_id].health(running and self.toggles.camera_enabled(camera_id))
            for camera_id in self._slots
        ]

    def latest_frame(self, camera_id: str) -> Frame | None:
        slot = self._slots.get(camera_id)
        return None if slot is None else slot.latest

    def preview(self, camera_id: str) -> PreviewFrame | None:
        """The newest frame of ``camera_id`` with the latest tracks and zones drawn on a copy."""
        frame = self.latest_frame(camera_id)
        if frame is None:
            return None
        pipeline = self.pipelines[camera_id]
        image = draw_overlay(frame.image, pipeline.snapshot, pipeline.zones)
        return PreviewFrame(camera_id, image, frame.captured_at, frame.index)

    def _maybe_summarise(self) -> None:
        interval = self.config.events.summary_interval_s
        now = self._clock()
        if interval <= 0 or now < self._next_summary:
            return
        detector = self._detector
        if detector is None:
            return  # nothing ran: the box's log already says why (detection_unavailable)
        self._next_summary = now + interval
        for camera_id, stats in self.stats.items():
            self._log(
                "detection_summary",
                camera_id,
                {
                    "inferences": stats.inferences,
                    "fps": round(stats.rate(), 3),
                    "skipped_still": stats.skipped_still,
                    "skipped_busy": stats.skipped_busy,
                    "errors": stats.errors,
                    "events": stats.events,
                    "events_dropped": stats.events_dropped,
                    "rules_fired": self.pipelines[camera_id].rules.fired,
                    "inference_ms_p50": stats.p50_ms(),
                    "model_sha256": detector.model.sha256,
                },
            )

    def _log(self, kind: str, camera_id: str | None, data: dict[str, JsonValue]) -> None:
        record = LogRecord(
            id=new_id(),
            camera_id=camera_id,
            occurred_at=utc(self._clock()),
            source=LogSource.DETECTION,
            type=kind,
            data=data,
        )
        try:
            self.sink.add_log(record)
        except Exception:
            log.exception("could not store %s log", kind)
