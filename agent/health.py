"""What the box can say about itself: CPU, memory, SoC temperature, throttling, disk, clock.

Each figure is read where the platform offers it and is ``None`` where it does
not (a Jetson has no ``vcgencmd``; a container has no thermal zones): a
heartbeat never fails because one reading is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from protocol import ClockHealth

__all__ = ["ClockProbe", "SystemFigures", "SystemProbe", "parse_throttled"]

log = logging.getLogger(__name__)

# systemd's own tools report their exit status to $NOTIFY_SOCKET (ERRNO=...):
# the helpers we run must not inherit it, or they would speak for the agent.
_NOT_INHERITED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _helper_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}


_PREFERRED_ZONES = ("cpu", "soc", "x86_pkg_temp", "acpitz")
_TIME_ERROR = 5
_STA_UNSYNC = 0x0040
_STA_NANO = 0x2000


@dataclass(frozen=True, slots=True)
class SystemFigures:
    cpu_percent: float | None
    load_1m: float | None
    memory_rss_bytes: int | None
    soc_temp_c: float | None
    throttled: bool | None
    disk_free_bytes: int
    disk_total_bytes: int


def parse_throttled(output: str) -> bool | None:
    """``vcgencmd get_throttled`` → True when any *current* condition is set (bits 0-3:
    under-voltage, ARM frequency capped, throttled, soft temperature limit)."""
    _, _, value = output.strip().partition("=")
    try:
        return bool(int(value, 16) & 0xF)
    except ValueError:
        return None


class SystemProbe:
    def __init__(self, data_dir: Path, *, thermal_root: Path = Path("/sys/class/thermal")) -> None:
        self._data_dir = data_dir
        self._thermal_root = thermal_root
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement
        psutil.cpu_percent(None)
        self._vcgencmd = shutil.which("vcgencmd")
        self._zone = self._find_zone()

    def sample(self) -> SystemFigures:
        usage = shutil.disk_usage(self._data_dir)
        return SystemFigures(
            cpu_percent=psutil.cpu_percent(None),
            load_1m=os.getloadavg()[0],
            memory_rss_bytes=self._process.memory_info().rss,
            soc_temp_c=self._temperature(),
            throttled=self._throttled(),
            disk_free_bytes=usage.free,
            disk_total_bytes=usage.total,
        )

    def _find_zone(self) -> Path | None:
        zones = sorted(self._thermal_root.glob("thermal_zone*"))
        typed: list[tuple[str, Path]] = []
        for zone in zones:
            try:
                typed.append(((zone / "type").read_text().strip().lower(), zone / "temp"))
            except OSError:
                continue
        for wanted in _PREFERRED_ZONES:
            for kind, path in typed:
                if wanted in kind:
                    return path
        return typed[0][1] if typed else None

    def _temperature(self) -> float | None:
        if self._zone is None:
            return None
        try:
            return int(self._zone.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            return None

    def _throttled(self) -> bool | None:
        if self._vcgencmd is None:
            return None
        try:
            result = subprocess.run(
                [self._vcgencmd, "get_throttled"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
                env=_helper_env(),
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return parse_throttled(result.stdout) if result.returncode == 0 else None


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


class ClockProbe:
    """NTP sync state: ``timedatectl`` (systemd-timesyncd, chrony) when it answers, else the
    kernel's own view through ``adjtimex(2)`` (read-only: modes = 0)."""

    def __init__(self, *, timedatectl: str | None = None) -> None:
        self._timedatectl = timedatectl or shutil.which("timedatectl")
        libc_name = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None

    def sample(self) -> ClockHealth:
        return self._from_timedatectl() or self._from_adjtimex() or ClockHealth()

    def _from_timedatectl(self) -> ClockHealth | None:
        if self._timedatectl is None:
            return None
        try:
            result = subprocess.run(
                [self._timedatectl, "show", "-p", "NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
                env=_helper_env(),
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        answer = result.stdout.strip()
        if result.returncode != 0 or answer not in ("yes", "no"):
            return None
        return ClockHealth(synced=answer == "yes", source="timedatectl")

    def _from_adjtimex(self) -> ClockHealth | None:
        if self._libc is None or not hasattr(self._libc, "adjtimex"):
            return None
        timex = _Timex()
        state = self._libc.adjtimex(ctypes.byref(timex))
        if state < 0:  # e.g. EPERM under a seccomp filter (ProtectClock=)
            return None
        scale = 1e-6 if timex.status & _STA_NANO else 1e-3
        synced = state != _TIME_ERROR and not timex.status & _STA_UNSYNC
        return ClockHealth(synced=synced, offset_ms=timex.offset * scale, source="adjtimex")
