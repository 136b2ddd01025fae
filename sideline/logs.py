"""Logging: journald when running under systemd, stderr otherwise; text or JSON lines;
the agent's rate-limited.

``--log-format json`` (or ``log_format = "json"`` in the cloud config) writes one
JSON object per event to stderr: ``time`` (UTC, milliseconds), ``level``,
``logger``, ``message``, the process and thread, the fields bound for the current
request or message (``request_id`` on the API, ``message_id``/``message_ids`` on
the ingest: ``core.logcontext``), whatever a call passed as ``extra=``, and
``exception`` with its traceback. A log collector (Loki, Elasticsearch,
CloudWatch) reads it without parsing rules.

A box logs a few lines per clip and nothing per frame or per second. What could
still flood its SD card is a condition that repeats: a flapping network
(connect, lose, connect), an upload retried, a camera reconnecting. The agent's
handler therefore passes at most :data:`BURST` records of one kind (the same
logger and message template) per :data:`WINDOW_S`; the rest are counted and
the count rides on the next record of that kind that passes ("... (and 17 more
like it in the last 60 s)"). CRITICAL is never held back.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from core.logcontext import current_fields

__all__ = [
    "BURST",
    "WINDOW_S",
    "JsonFormatter",
    "LogFormat",
    "RateLimit",
    "configure_logging",
    "running_under_systemd",
]

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

LogFormat = Literal["text", "json"]

BURST = 5
WINDOW_S = 60.0
_KINDS_KEPT = 1024  # distinct (logger, template) pairs remembered


class RateLimit(logging.Filter):
    """At most ``burst`` records per (logger, message template) per ``window_s``."""

    def __init__(
        self,
        burst: int = BURST,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        # kind -> [window start, records passed in it, records held back since the last pass]
        self._kinds: OrderedDict[tuple[str, object], list[float]] = OrderedDict()
        self.held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        key = (record.name, record.msg)
        now = self._clock()
        with self._lock:
            state = self._kinds.get(key)
            if state is None:
                state = self._kinds[key] = [now, 0.0, 0.0]
                if len(self._kinds) > _KINDS_KEPT:
                    self._kinds.popitem(last=False)
            else:
                self._kinds.move_to_end(key)
            if now - state[0] >= self.window_s:
                state[0], state[1] = now, 0.0
            if state[1] >= self.burst:
                state[2] += 1
                self.held_back += 1
                return False
            state[1] += 1
            held, state[2] = int(state[2]), 0.0
        if held:
            record.msg = f"{record.msg} (and {held} more like it held back in the last {self.window_s:.0f} s)"
        return True


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        entry.update(current_fields())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def running_under_systemd() -> bool:
    # systemd sets JOURNAL_STREAM when stdout/stderr go to the journal.
    return "JOURNAL_STREAM" in os.environ or "NOTIFY_SOCKET" in os.environ


def configure_logging(
    level: str = "INFO",
    *,
    journald: bool | None = None,
    rate_limit: bool = False,
    log_format: LogFormat = "text",
) -> None:
    """Set up the root logger once, for the process that runs a daemon or command.

    ``rate_limit``: a :class:`RateLimit` on the handler (the agent: an SD card).
    ``log_format="json"`` always writes JSON lines to stderr (a container's log
    driver or a collector reads them), also under systemd."""
    use_journald = log_format == "text" and (
        running_under_systemd() if journald is None else journald
    )
    handler: logging.Handler
    if use_journald:
        try:
            from systemd.journal import JournalHandler

            handler = JournalHandler(SYSLOG_IDENTIFIER="sideline")
            handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        except ImportError:  # systemd-python is in the agent extra; fall back quietly
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(_FORMAT))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter() if log_format == "json" else logging.Formatter(_FORMAT)
        )
    if rate_limit:
        handler.addFilter(RateLimit())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries stay at WARNING unless asked.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "libav"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn's own loggers go through this handler (it is started with log_config=None).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
