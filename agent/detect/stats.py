"""Counters for one camera's detection, read by the heartbeat from another thread.

Plain integer and deque updates under the GIL are atomic enough for counters
that are only ever incremented by one thread and read by another.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable

from protocol import DetectionHealth

__all__ = ["CameraStats"]


class CameraStats:
    RATE_WINDOW_S = 30.0

    def __init__(self, camera_id: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.camera_id = camera_id
        self._monotonic = monotonic
        self.inferences = 0
        self.skipped_still = 0
        self.skipped_busy = 0
        self.errors = 0
        self.frames_decoded = 0  # told by capture: frames it decoded only for detection
        self.events = 0
        self.events_dropped = 0
        self._inference_times: deque[float] = deque(maxlen=4096)
        self._durations_ms: deque[float] = deque(maxlen=256)
        self.started = monotonic()

    def record_inference(self, duration_ms: float) -> None:
        self.inferences += 1
        self._inference_times.append(self._monotonic())
        self._durations_ms.append(duration_ms)

    def rate(self) -> float:
        """Inferences per second over the last 30 s (or since start, if shorter)."""
        now = self._monotonic()
        since = max(self.started, now - self.RATE_WINDOW_S)
        recent = sum(1 for t in self._inference_times if t >= since)
        span = now - since
        return recent / span if span > 0 else 0.0

    def p50_ms(self) -> float | None:
        durations = list(self._durations_ms)
        return round(statistics.median(durations), 3) if durations else None

    def latency_quantiles_ms(self, quantiles: tuple[float, ...]) -> dict[float, float]:
        """Inference times at ``quantiles`` over the last 256 inferences (none yet: empty)."""
        durations = sorted(self._durations_ms)
        if not durations:
            return {}
        last = len(durations) - 1
        return {q: durations[min(last, int(q * len(durations)))] for q in quantiles}

    def health(self, enabled: bool) -> DetectionHealth:
        return DetectionHealth(
            camera_id=self.camera_id,
            enabled=enabled,
            fps=round(self.rate(), 3),
            inferences=self.inferences,
            skipped_still=self.skipped_still,
            skipped_busy=self.skipped_busy,
            frames_decoded=self.frames_decoded,
            inference_ms_p50=self.p50_ms(),
        )
