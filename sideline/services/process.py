"""A child process that serves on a port: start, wait until ready, stop for sure."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["ManagedProcess", "ServiceError", "free_port", "port_is_open"]

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A local service could not start or stop; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ManagedProcess:
    """One long-running executable with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        term_timeout_s: float = 5.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.term_timeout_s = term_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.is_running():
            raise ServiceError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            try:
                self._proc = subprocess.Popen(
                    self.argv,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.cwd,
                    env=self.env,
                    start_new_session=True,  # a Ctrl-C in the terminal is ours to forward
                )
            except FileNotFoundError:
                raise ServiceError(
                    f"cannot start {self.name}: {self.argv[0]!r} not found; "
                    "run the setup (make setup) or install it"
                ) from None
        log.debug("started %s (pid %s): %s", self.name, self._proc.pid, " ".join(self.argv))

    def wait_until(self, ready: Callable[[], bool], *, timeout_s: float, what: str) -> None:
        """Poll ``ready`` until true; fail with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.is_running():
                code = self._proc.returncode if self._proc else None
                raise ServiceError(
                    f"{self.name} exited with code {code} before {what}; log {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            if ready():
                return
            time.sleep(0.05)
        raise ServiceError(
            f"{self.name} did not get {what} within {timeout_s:.0f} s; log {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    def send_signal(self, sig: int) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut would: no chance to clean up."""
        if self._proc is None:
            return
        self.send_signal(signal.SIGKILL)
        self._proc.wait()

    def stop(self) -> None:
        """SIGTERM, wait up to ``term_timeout_s``, then SIGKILL."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=self.term_timeout_s)
            except subprocess.TimeoutExpired:
                log.debug("%s ignored SIGTERM for %.0f s; killing", self.name, self.term_timeout_s)
                self.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
