"""What one camera's codecs cost in CPU: its capture thread plus the threads its codecs start.

libx264 and FFmpeg's decoders run worker threads of their own, so the capture
thread's own CPU time says little. :class:`CodecCpu` records which threads appear
while the camera opens its codecs (one camera opens at a time, under a lock) and
sums their user and system time from ``/proc/self/task/<tid>/stat``. Against the
seconds of video handled, that is the share of one core the camera costs: what
``sideline`` logs at start ("about 38 % of a core at 1920x1080 30 fps") and the
heartbeat carries. Where ``/proc`` is missing the figure is None, never a guess.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["CodecCpu", "CpuRate"]

_TASKS = Path("/proc/self/task")
_OPENING = threading.Lock()
_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _task_ids() -> set[int]:
    try:
        return {int(name) for name in os.listdir(_TASKS)}
    except OSError:
        return set()


def _task_seconds(tid: int) -> float | None:
    try:
        text = (_TASKS / str(tid) / "stat").read_text()
    except OSError:
        return None  # the thread has ended
    # Fields after the command name (which may hold spaces) in parentheses: utime, stime
    # are the 12th and 13th of them (14 and 15 of the whole line).
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S


class CodecCpu:
    """CPU seconds of the calling thread and of the codec threads it starts."""

    def __init__(self) -> None:
        self._tids = {threading.get_native_id()}
        self._ended = 0.0  # seconds of threads that have exited since
        self._last: dict[int, float] = {}
        self.available = _TASKS.is_dir()

    @contextmanager
    def opening(self) -> Iterator[None]:
        """Open codecs inside this block: the threads they start are counted as this camera's."""
        with _OPENING:
            before = _task_ids()
            yield
            self._tids |= _task_ids() - before

    def seconds(self) -> float | None:
        if not self.available:
            return None
        total = self._ended
        for tid in list(self._tids):
            value = _task_seconds(tid)
            if value is None:  # ended: keep what it used
                ended = self._last.pop(tid, 0.0)
                self._ended += ended
                total += ended
                self._tids.discard(tid)
                continue
            self._last[tid] = value
            total += value
        return total


class CpuRate:
    """Share of one core over seconds of video: ``cpu seconds / video seconds x 100``.

    The first figure comes after ``first_window_s`` of video (what the start-up log
    says), later ones over ``window_s`` each (what the heartbeat carries).
    """

    def __init__(
        self, meter: CodecCpu, *, first_window_s: float = 3.0, window_s: float = 10.0
    ) -> None:
        self._meter = meter
        self._windows = (first_window_s, window_s)
        self._mark: tuple[float, float] | None = None  # (video seconds, cpu seconds)
        self.percent: float | None = None

    def update(self, video_s: float) -> float | None:
        """Called as video is handled; returns the new figure when a window completes."""
        if self._mark is None:
            cpu = self._meter.seconds()
            if cpu is not None:
                self._mark = (video_s, cpu)
            return None
        start_video, start_cpu = self._mark
        window = self._windows[0] if self.percent is None else self._windows[1]
        if video_s - start_video < window:
            return None
        cpu = self._meter.seconds()
        if cpu is None:
            return None
        self.percent = round(max(0.0, cpu - start_cpu) / (video_s - start_video) * 100, 1)
        self._mark = (video_s, cpu)
        return self.percent
