"""One camera's path through detection: motion gate, detector, tracker, zones, rules.

Runs on the detection thread only. What other threads read (the overlay
snapshot, the stats counters) is replaced whole, never mutated in place.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agent.detect.config import DetectConfig
from agent.detect.detector import Detector
from agent.detect.events import Observation, ZoneEvents
from agent.detect.motion import MotionGate
from agent.detect.overlay import TrackBox
from agent.detect.ratelimit import TokenBucket
from agent.detect.rules import RuleEngine
from agent.detect.stats import CameraStats
from agent.detect.tracker import Tracker, TrackUpdate
from agent.detect.zones import Zone
from agent.interfaces.frames import Frame
from agent.interfaces.triggers import ClipTrigger
from protocol import DetectionEvent, DetectionEventKind

__all__ = ["CameraPipeline", "crop_region"]

Region = tuple[int, int, int, int]


def crop_region(
    motion: Region, width: int, height: int, margin: float, min_side: int
) -> Region | None:
    """The motion region grown by ``margin`` and to at least ``min_side``; None if it is most of the frame."""
    x, y, w, h = motion
    grow_w, grow_h = w * margin, h * margin
    side_w = max(w + 2 * grow_w, min(min_side, width))
    side_h = max(h + 2 * grow_h, min(min_side, height))
    cx, cy = x + w / 2, y + h / 2
    x1 = int(max(0, min(width - side_w, cx - side_w / 2)))
    y1 = int(max(0, min(height - side_h, cy - side_h / 2)))
    x2 = int(min(width, x1 + side_w))
    y2 = int(min(height, y1 + side_h))
    if (x2 - x1) * (y2 - y1) > 0.6 * width * height:
        return None  # cropping would save little and cut objects at the edges
    return x1, y1, x2 - x1, y2 - y1


class CameraPipeline:
    def __init__(
        self,
        camera_id: str,
        config: DetectConfig,
        trigger: ClipTrigger | None,
        stats: CameraStats,
        now: float,
    ) -> None:
        self.camera_id = camera_id
        self.config = config
        self.stats = stats
        self.gate = MotionGate(config.motion)
        self.tracker = Tracker(config.tracker)
        self.zones = [Zone.from_config(z) for z in config.zones if z.camera_id == camera_id]
        self.zone_events = ZoneEvents(self.zones, config.events)
        self.rules = RuleEngine(camera_id, config.rules, trigger)
        self.bucket = TokenBucket(config.events.max_events_per_minute, now)
        self.snapshot: tuple[TrackBox, ...] = ()
        self._last_inference_at: float | None = None
        self._reset_requested = False

    def request_reset(self) -> None:
        """From another thread: forget everything before the next frame (model or toggles changed)."""
        self._reset_requested = True

    def reset(self) -> None:
        """Forget tracks and the motion background; on the detection thread only."""
        self._reset_requested = False
        self.tracker.reset()
        self.gate.reset()
        self.zone_events = ZoneEvents(self.zones, self.config.events)
        self.snapshot = ()
        self._last_inference_at = None

    def process(
        self, frame: Frame, detector: Detector, class_mask: npt.NDArray[np.bool_] | None
    ) -> list[DetectionEvent]:
        """Run one frame through; returns the events to store (already rate-limited)."""
        if self._reset_requested:
            self.reset()
        image = frame.image
        motion_cfg = self.config.motion
        roi: Region | None = None
        if motion_cfg.enabled:
            motion = self.gate.check(image)
            since = (
                None
                if self._last_inference_at is None
                else frame.captured_at - self._last_inference_at
            )
            # A negative gap means the clock stepped back: look again rather than wait for it.
            refresh_due = motion_cfg.refresh_s > 0 and (
                since is None or since < 0 or since >= motion_cfg.refresh_s
            )
            if not motion.moving and not refresh_due:
                self.stats.skipped_still += 1
                # Nothing moved: what was there still is; counts and rules carry on.
                still = Observation(
                    self.camera_id,
                    frame.captured_at,
                    frame.width,
                    frame.height,
                    self.tracker.tracks,
                    inferred=False,
                )
                return self._observe(still)
            if motion_cfg.crop and motion.moving and motion.region is not None:
                side = max(detector.manifest.input.width, detector.manifest.input.height)
                roi = crop_region(
                    motion.region, frame.width, frame.height, motion_cfg.crop_margin, side
                )
        detections = detector.detect(image, roi, class_mask)
        self.stats.record_inference(detections.timings.total_ms)
        self._last_inference_at = frame.captured_at
        update: TrackUpdate = self.tracker.update(detections, frame.captured_at, roi)
        self.snapshot = tuple(
            TrackBox(t.id, t.label, tuple(float(v) for v in t.box), t.score, t.confirmed)  # type: ignore[arg-type]
            for t in update.tracks
        )
        observation = Observation(
            self.camera_id,
            frame.captured_at,
            frame.width,
            frame.height,
            update.tracks,
            update.ended,
            update.newly_confirmed,
        )
        return self._observe(observation)

    def _observe(self, observation: Observation) -> list[DetectionEvent]:
        zone_events = self.zone_events.update(observation)
        rule_events = self.rules.evaluate(observation, zone_events, self.zone_events.current_counts)
        kept = list(rule_events)  # a rule's event names its clip: never dropped
        for event in zone_events:
            if self.bucket.allow(observation.at):
                kept.append(event)
            else:
                self.stats.events_dropped += 1
        self.stats.events += len(kept)
        kept.sort(key=lambda e: (e.occurred_at, e.kind != DetectionEventKind.RULE))
        return kept
