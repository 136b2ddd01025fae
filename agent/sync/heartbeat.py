"""Every N seconds: a Heartbeat with the protocol's health figures.

Heartbeats go out with QoS 0 and only while connected: a stale one is worth
nothing, and the backlog figures say how far behind the box is anyway. The same
loop watches the wall clock against the monotonic one and records a jump (NTP
catching up after a boot without RTC, a manual change) as a system log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from agent.buffer.store import LocalStore
from agent.clock import Clock, ClockJumpDetector
from agent.components import CameraHealthProvider, DetectionHealthProvider
from agent.health import ClockProbe, SystemProbe
from agent.interfaces.sinks import StoreUnavailable
from agent.sync.link_types import Link, PublishRequest
from protocol import CameraHealth, Channel, ClockHealth, DetectionHealth, Heartbeat, encode

__all__ = ["HeartbeatPublisher"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class HeartbeatPublisher:
    def __init__(
        self,
        store: LocalStore,
        link: Link,
        *,
        interval_s: float,
        system: SystemProbe,
        clock_probe: ClockProbe,
        camera_health: Sequence[CameraHealthProvider],
        detection_health: Sequence[DetectionHealthProvider],
        clock: Clock,
        agent_version: str,
    ) -> None:
        self._store = store
        self._link = link
        self._interval_s = interval_s
        self._system = system
        self._clock_probe = clock_probe
        self._camera_health = list(camera_health)
        self._detection_health = list(detection_health)
        self._clock = clock
        self._agent_version = agent_version
        self._started = clock.monotonic()
        self._jumps = ClockJumpDetector(clock)
        self._stop = threading.Event()
        self._last_tick = time.monotonic()
        self.sent = 0
        self.last_clock: ClockHealth | None = None  # the newest clock sample

    def alive(self, within_s: float) -> bool:
        return time.monotonic() - self._last_tick < within_s

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            self._last_tick = time.monotonic()
            self._watch_clock()
            if self._link.connected:
                try:
                    self._link.publish(
                        PublishRequest(
                            Channel.HEARTBEAT, encode(self.build()), qos=0, drop_if_offline=True
                        )
                    )
                    self.sent += 1
                except Exception:
                    log.exception("could not build a heartbeat")
            self._stop.wait(min(self._interval_s, 5.0) if not self.sent else self._interval_s)

    def build(self) -> Heartbeat:
        figures = self._system.sample()
        identity = self._store.identity
        retention = self._store.retention
        return Heartbeat(
            org=identity.org,
            device_id=identity.device_id,
            uptime_s=max(0.0, self._clock.monotonic() - self._started),
            agent_version=self._agent_version,
            cameras=_collect(self._camera_health, CameraHealth),
            detection=_collect(self._detection_health, DetectionHealth),
            cpu_percent=figures.cpu_percent,
            load_1m=figures.load_1m,
            memory_rss_bytes=figures.memory_rss_bytes,
            soc_temp_c=figures.soc_temp_c,
            throttled=figures.throttled,
            disk_free_bytes=figures.disk_free_bytes,
            disk_total_bytes=figures.disk_total_bytes,
            backlog=self._store.outbox.backlog(self._clock.time()),
            evicted_unsynced_clips=retention.evicted_unsynced_clips,
            evicted_unsynced_bytes=retention.evicted_unsynced_bytes,
            clock=self._sample_clock(),
        )

    def _sample_clock(self) -> ClockHealth:
        self.last_clock = self._clock_probe.sample()
        return self.last_clock

    def clock_offset_ms(self) -> float | None:
        """The clock offset of the newest sample (None before the first or when unknown)."""
        sample = self.last_clock
        return sample.offset_ms if sample is not None else None

    def _watch_clock(self) -> None:
        jump = self._jumps.check()
        if jump is None:
            return
        log.warning("the wall clock jumped by %+.1f s", jump)
        try:
            self._store.add_system_log("clock_jumped", {"seconds": round(jump, 3)})
        except StoreUnavailable as exc:
            log.error("could not record the clock jump: %s", exc)


def _collect(providers: Sequence[Callable[[], Sequence[T]]], kind: type[T]) -> list[T]:
    items: list[T] = []
    for provider in providers:
        try:
            items.extend(provider())
        except Exception:
            log.exception("a %s provider failed; leaving it out of this heartbeat", kind.__name__)
    return items
