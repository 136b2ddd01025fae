"""The background work the API process runs in threads (docs/scheduling.md#jobs).

:class:`SchedulingJobs`: each round extends open-ended series to the horizon.
:func:`outbox_worker`: the outbox's worker with every handler the cloud has
(webhooks), polling every second and woken after a commit. Both are safe in
several processes at once (rows are locked or leased while they change), so
several API processes may run them; ``sideline cloud jobs`` runs the same on
its own for deployments that turn them off in the API (``api.scheduling.jobs``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from peewee import Database

from cloud.api.config import SchedulingConfig
from cloud.api.services import series as series_service
from cloud.devices.control import DeviceControl
from cloud.models import utc_now
from cloud.outbox import OutboxWorker
from cloud.webhooks import WEBHOOK, WebhookSender

__all__ = ["JobReport", "SchedulingJobs", "outbox_worker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobReport:
    """What one round did."""

    extended_series: int = 0
    occurrences_written: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.extended_series or self.occurrences_written)


def outbox_worker(database: Database, *, poll_s: float = 1.0) -> OutboxWorker:
    """The outbox worker with the cloud's handlers (``webhook``: signed HTTP POSTs)."""
    return OutboxWorker(database, {WEBHOOK: WebhookSender()}, poll_s=poll_s)


class SchedulingJobs:
    def __init__(
        self,
        database: Database,
        *,
        settings: SchedulingConfig,
        control: DeviceControl | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.control = control  # for auto-start sessions (None: those are left alone)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> JobReport:
        """One round of every job, at ``now`` (default: the clock)."""
        now = now or utc_now()
        horizon = self.settings.horizon_days
        extended = written = 0
        for series_id in series_service.due_for_extension(now=now, horizon_days=horizon):
            try:
                count = series_service.extend_series(
                    self.database, series_id=series_id, now=now, horizon_days=horizon
                )
            except Exception:  # one series must not stop the others
                log.exception("extending series %s failed; retried next round", series_id)
                continue
            extended += 1
            written += count
        return JobReport(extended_series=extended, occurrences_written=written)

    def run(self) -> None:
        """Rounds every ``jobs_interval_s`` until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                report = self.run_once()
                if report.anything:
                    log.info("scheduling jobs: %s", report)
            except Exception:  # the database may be away; the next round tries again
                log.exception("a round of the scheduling jobs failed")
            finally:
                self.database.close()  # this thread's connection; opened again next round
            self._stop.wait(self.settings.jobs_interval_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="scheduling-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
