"""Logging: journald when running under systemd, stderr otherwise."""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["configure_logging", "running_under_systemd"]

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def running_under_systemd() -> bool:
    # systemd sets JOURNAL_STREAM when stdout/stderr go to the journal.
    return "JOURNAL_STREAM" in os.environ or "NOTIFY_SOCKET" in os.environ


def configure_logging(level: str = "INFO", *, journald: bool | None = None) -> None:
    """Set up the root logger once, for the process that runs a daemon or command."""
    use_journald = running_under_systemd() if journald is None else journald
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
        handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries stay at WARNING unless asked.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "libav"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
