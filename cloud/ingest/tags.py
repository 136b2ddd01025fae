"""The ingest's tag requester: a box's tag asks the session's other boxes for its clips.

A box that tags a moment (its button) cuts its own cameras' clips and sends the
log with its window (``LogRecord.clip``). Once such a log is stored, this
thread asks every other device of the session for the same window
(:func:`cloud.tagging.request_log_clips`, which claims the log first so that
nothing asks twice). It also picks up a coach's log whose API process stopped
before it asked. It wakes when a writer stored a tag, and looks every few
seconds in any case; logs received more than ``window_s`` ago are left alone
(their video has long left the boxes' memory, and a restart must not flood
the fleet with old requests).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from peewee import Database, DatabaseError

from cloud.devices.control import DeviceControl
from cloud.models import LogOrigin, utc_now
from cloud.tagging import pending_tag_logs, request_log_clips

__all__ = ["TagRequester"]

log = logging.getLogger(__name__)


class TagRequester:
    def __init__(
        self,
        database: Database,
        control: DeviceControl,
        *,
        command_ttl_s: float,
        window_s: float = 600.0,
        poll_s: float = 5.0,
    ) -> None:
        self.database = database
        self.control = control
        self.command_ttl_s = command_ttl_s
        self.window_s = window_s
        self.poll_s = poll_s
        self.wake = threading.Event()
        self.requested = 0

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self.request_due()
                except DatabaseError as exc:
                    log.warning("tag requests paused: database error: %s", exc)
                    self._close_quietly()
                self.wake.wait(self.poll_s)
                self.wake.clear()
        finally:
            self._close_quietly()

    def request_due(self) -> int:
        """Ask for every pending tag's clips; returns how many logs were handled."""
        handled = 0
        since = utc_now() - timedelta(seconds=self.window_s)
        for entry in pending_tag_logs(received_after=since):
            source = entry.device_id if entry.origin == LogOrigin.DEVICE else None
            try:
                commands = request_log_clips(
                    self.control, entry, ttl_s=self.command_ttl_s, exclude_device=source
                )
            except DatabaseError:
                raise
            except Exception:  # one log must not stop the others
                log.exception("tag %s: asking its devices failed", entry.id)
                continue
            handled += 1
            self.requested += len(commands)
        return handled

    def _close_quietly(self) -> None:
        try:
            self.database.close()
        except DatabaseError:
            pass
