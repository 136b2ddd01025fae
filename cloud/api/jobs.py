"""The background work the API process runs in threads (docs/scheduling.md#jobs).

:class:`SchedulingJobs`: each round extends open-ended series to the horizon,
starts the ``auto_start`` sessions whose time has come (their devices' retained
desired state then names the session) and ends them after their duration.
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
from datetime import datetime, timedelta

from peewee import Database

from cloud.api.config import SchedulingConfig
from cloud.api.services import series as series_service
from cloud.api.services.lifecycle import Action, apply_transition
from cloud.devices.control import DeviceControl
from cloud.errors import Conflict
from cloud.models import Session, SessionStatus, utc_now
from cloud.outbox import OutboxWorker
from cloud.webhooks import WEBHOOK, WebhookSender

__all__ = ["JobReport", "SchedulingJobs", "outbox_worker"]

log = logging.getLogger(__name__)

_LONGEST = timedelta(days=7)  # the longest a session lasts (duration_minutes' bound)


def _end_of(session: Session) -> datetime:
    end: datetime = session.scheduled_at + timedelta(minutes=session.duration_minutes or 60)
    return end


@dataclass(frozen=True)
class JobReport:
    """What one round did."""

    extended_series: int = 0
    occurrences_written: int = 0
    started: int = 0
    ended: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.extended_series or self.occurrences_written or self.started or self.ended)


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
        started, ended = self._run_the_clock(now)
        return JobReport(
            extended_series=extended, occurrences_written=written, started=started, ended=ended
        )

    def _run_the_clock(self, now: datetime) -> tuple[int, int]:
        """Start the auto-start sessions whose window is open, end those whose is over.

        A session whose whole window passed while nothing ran (the API was down) is
        not started afterwards: it stays scheduled, for a person to decide."""
        if self.control is None:
            return 0, 0
        started = ended = 0
        due = Session.select().where(
            (Session.status == SessionStatus.SCHEDULED)
            & Session.auto_start
            & Session.deleted_at.is_null()
            & (Session.scheduled_at <= now)
            & (Session.scheduled_at > now - _LONGEST)
        )
        for session in due:
            if _end_of(session) <= now:
                continue
            started += self._move(session, Action.START)
        running = Session.select().where(
            (Session.status == SessionStatus.LIVE)
            & Session.auto_start
            & Session.deleted_at.is_null()
            & (Session.scheduled_at <= now)
        )
        for session in running:
            if _end_of(session) <= now:
                ended += self._move(session, Action.END)
        return started, ended

    def _move(self, session: Session, action: Action) -> int:
        assert self.control is not None
        try:
            apply_transition(
                self.database,
                org_id=session.org_id,
                by_user=None,
                session=session,
                action=action,
                control=self.control,
                reason="by the schedule",
            )
        except Conflict as exc:  # e.g. a device still records another live session
            log.warning("session %s: %s by the schedule refused: %s", session.id, action, exc)
            return 0
        log.info("session %s: %s by the schedule", session.id, action.value)
        return 1

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

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="scheduling-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
