"""The sd_notify protocol: one datagram per state change to ``$NOTIFY_SOCKET``.

Written out (it is a few lines) rather than through libsystemd, so that it
behaves the same with or without systemd-python and can be tested against a
plain datagram socket. The socket path and watchdog interval come from the
environment systemd sets; the daemon's composition root reads them
(:meth:`SystemdNotifier.from_environment`) and passes them in.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["SystemdNotifier"]

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, socket_path: str | None, *, watchdog_usec: int | None = None) -> None:
        self._address: str | bytes | None = None
        if socket_path:
            # A leading '@' names a socket in the abstract namespace.
            self._address = (
                b"\0" + socket_path[1:].encode() if socket_path[0] == "@" else socket_path
            )
        self.watchdog_interval_s = watchdog_usec / 1e6 if watchdog_usec else None
        self._socket: socket.socket | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> SystemdNotifier:
        usec = environ.get("WATCHDOG_USEC")
        pid = environ.get("WATCHDOG_PID")
        watchdog = (
            int(usec) if usec and usec.isdigit() and (not pid or pid == str(os.getpid())) else None
        )
        return cls(environ.get("NOTIFY_SOCKET"), watchdog_usec=watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}\nMAINPID={os.getpid()}")

    def reloading(self) -> None:
        self._send("RELOADING=1")

    def stopping(self, status: str = "stopping") -> None:
        self._send(f"STOPPING=1\nSTATUS={status}")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            log.warning("could not notify systemd (%s): %s", message.split("\n", 1)[0], exc)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
