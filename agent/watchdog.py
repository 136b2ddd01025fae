"""Feeds the systemd watchdog only while every loop that matters is alive.

A process that is running but stuck (a capture loop blocked on a dead camera
driver, a sync loop waiting forever) is worse than a crash: systemd would never
restart it. So WATCHDOG=1 is sent only when each registered liveness check
passes; one that fails is logged by name, and systemd restarts the agent after
``WatchdogSec``. The STATUS= line is refreshed on the same beat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from agent.systemd_notify import SystemdNotifier

__all__ = ["LivenessCheck", "WatchdogFeeder"]

log = logging.getLogger(__name__)

LivenessCheck = Callable[[], bool]


class WatchdogFeeder:
    def __init__(
        self,
        notifier: SystemdNotifier,
        checks: dict[str, LivenessCheck],
        *,
        status: Callable[[], str],
        interval_s: float,
    ) -> None:
        self._notifier = notifier
        self._checks = checks
        self._status = status
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._stuck: frozenset[str] = frozenset()
        self.fed = 0

    def stop(self) -> None:
        self._stop.set()

    def stuck(self) -> list[str]:
        failing: list[str] = []
        for name, check in self._checks.items():
            try:
                alive = check()
            except Exception:
                log.exception("liveness check %s failed", name)
                alive = False
            if not alive:
                failing.append(name)
        return failing

    def beat(self) -> None:
        failing = frozenset(self.stuck())
        if failing != self._stuck:
            if failing:
                log.error(
                    "not feeding the watchdog: %s stopped ticking", ", ".join(sorted(failing))
                )
            elif self._stuck:
                log.info("all loops alive again; feeding the watchdog")
            self._stuck = failing
        if not failing:
            self._notifier.watchdog()
            self.fed += 1
        try:
            self._notifier.status(self._status())
        except Exception:
            log.exception("building the status line failed")

    def run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.beat()
            self._stop.wait(max(0.0, self._interval_s - (time.monotonic() - started)))
