"""The store's housekeeping loop: disk quota, pruning of synced rows.

Runs every ``retention_interval_s`` and at once when a new clip arrives. A
failure (a full disk, a locked store) is logged and tried again next turn.
"""

from __future__ import annotations

import logging
import threading
import time

from peewee import DatabaseError

from agent.buffer.store import LocalStore

__all__ = ["StoreMaintenance"]

log = logging.getLogger(__name__)

# Pruning walks the oldest rows without an index on sync time; with a large young
# backlog that is a scan, so it runs every few minutes, not every retention turn.
_PRUNE_EVERY_S = 300.0


class StoreMaintenance:
    def __init__(self, store: LocalStore) -> None:
        self._store = store
        self._stop = threading.Event()
        self._last_tick = time.monotonic()
        self.pruned = 0
        self._next_prune = 0.0

    def alive(self, within_s: float) -> bool:
        return time.monotonic() - self._last_tick < within_s

    def stop(self) -> None:
        self._stop.set()
        self._store.retention_due.set()

    def run_once(self) -> None:
        store = self._store
        try:
            store.retention.enforce()
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + _PRUNE_EVERY_S
                cutoff = store.clock.time() - store.config.synced_retention_s
                self.pruned += store.outbox.prune_synced(cutoff)
        except (DatabaseError, OSError) as exc:
            store.report_error(exc)
            log.error("store maintenance failed (%s); trying again shortly", exc)

    def run(self) -> None:
        interval = self._store.config.retention_interval_s
        while not self._stop.is_set():
            self._last_tick = time.monotonic()
            self.run_once()
            # Wake at the interval, or at once when a clip arrives; tick meanwhile.
            deadline = time.monotonic() + interval
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._last_tick = time.monotonic()
                if self._store.retention_due.wait(min(5.0, interval)):
                    self._store.retention_due.clear()
                    break
