"""A day without growth: the whole embedded stack, detection on, a coach pressing every 20 s.

    python bench/soak_memory.py [--minutes 360] [--warmup 5] [--press-every 20]

Starts the embedded stack (``bench/agent_stack.py``: Mosquitto, SeaweedFS, the
ingest and the API on SQLite, the agent as its own process) with the box of
``bench/agent_memory.py``: a 1080p30 H.264 camera at 6.8 Mbit/s, detection at
5 fps with YOLOv8n's architecture at 320x320, clips of 10 s + 5 s. The store's
clip quota is 400 MiB and acknowledged records are pruned after an hour, so
that retention works inside the run. Every ``--press-every`` seconds a press
on the box's LAN endpoint asks for a clip. After ``--warmup`` minutes, every
10 s: each process's RSS, open file descriptors and threads, and the size of
the agent's data directory (store, WAL, clips).

The limits (issue 20): over the **last third** of the samples, each process's
RSS slope (least squares, MiB/h) ≤ 0.5 MiB/h, or not significantly positive
(below two standard errors); file descriptors and threads flat (the last
third's highest ≤ the first third's highest + 2: a LAN request has a thread
for its moment, a connection pool a socket); the data directory at most the
clip quota plus 64 MiB (database and WAL). And every press a ready clip in the
cloud. A bench, not a test: run it once, on a quiet-ish machine, and report it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.agent_stack import (  # noqa: E402
    BoxOptions,
    BoxStack,
    detection_model,
    file_camera,
    ready_clips,
    slope_mib_per_hour,
)
from bench.capture_common import media  # noqa: E402

T = TypeVar("T")
SAMPLE_S = 10.0
SLOPE_LIMIT_MIB_H = 0.5
FLAT_SLACK = 2
QUOTA_BYTES = 400 * 2**20
STORE_SLACK_BYTES = 64 * 2**20


@dataclass
class Series:
    times: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)


def directory_bytes(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file() and "cache" not in entry.parts:
                total += entry.stat().st_size
        except OSError:
            pass  # deleted while we walked: retention at work
    return total


def thirds(values: Sequence[T]) -> tuple[list[T], list[T]]:
    """The first and the last third of ``values``."""
    third = max(1, len(values) // 3)
    return list(values[:third]), list(values[-third:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=360.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--press-every", type=float, default=20.0)
    args = parser.parse_args()
    if args.minutes * 60 / SAMPLE_S < 12:
        parser.error(f"--minutes must give at least 12 samples ({12 * SAMPLE_S / 60:.0f} min)")
    work = Path(tempfile.mkdtemp(prefix="sideline-soak-"))
    model = detection_model(work / "model")
    stack = BoxStack(
        work,
        BoxOptions(
            camera=file_camera(media(1920, 1080, 60, 6000).path),
            pre_seconds=10.0,
            post_seconds=5.0,
            detect_model=model,
            extra=f"[buffer]\nquota_bytes = {QUOTA_BYTES}\nsynced_retention_s = 3600",
        ),
    )
    print(
        f"soak: {args.warmup:g} min warm-up, then {args.minutes:g} min sampled every "
        f"{SAMPLE_S:g} s; a press every {args.press_every:g} s; load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    stack.start()
    ok = True
    try:
        processes = {p.name: psutil.Process(p.pid) for p in stack.processes if p.pid is not None}
        series = {name: Series() for name in processes}
        store: list[tuple[float, int]] = []
        data_dir = stack.root / "agent"
        presses = 0
        started = time.monotonic()
        warm_at = started + args.warmup * 60
        end_at = warm_at + args.minutes * 60
        next_press, next_sample, next_report = started + 5, warm_at, warm_at + 1800
        while time.monotonic() < end_at:
            now = time.monotonic()
            if now >= next_press:
                stack.press(f"press {presses}")
                presses += 1
                next_press += args.press_every
            if now >= next_sample:
                for name, process in processes.items():
                    s = series[name]
                    s.times.append(now - warm_at)
                    s.rss.append(process.memory_info().rss / 2**20)
                    s.fds.append(process.num_fds())
                    s.threads.append(process.num_threads())
                store.append((now - warm_at, directory_bytes(data_dir)))
                next_sample += SAMPLE_S
            if (
                now >= next_report
            ):  # a line every half hour, so a cut-short run still says something
                line = ", ".join(f"{n} {s.rss[-1]:.1f} MiB" for n, s in series.items())
                print(
                    f"  {(now - warm_at) / 3600:.1f} h: {line}; store {store[-1][1] / 2**20:.0f} MiB; "
                    f"presses {presses}; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
                next_report += 1800
            dead = stack.dead_process()
            if dead is not None:
                raise SystemExit(f"{dead.name} died during the soak:\n{dead.log_tail()}")
            time.sleep(0.2)
        ready = ready_clips(stack, presses)
        print(f"presses {presses}; ready clips in the cloud {ready}", flush=True)
        ok &= ready >= presses
        for name, s in series.items():
            ok &= report(name, s)
        _, store_last = thirds([b for _, b in store])
        highest = max(b for _, b in store)
        store_ok = highest <= QUOTA_BYTES + STORE_SLACK_BYTES
        ok &= store_ok
        print(
            f"store   data dir max {highest / 2**20:.0f} MiB (limit {(QUOTA_BYTES + STORE_SLACK_BYTES) / 2**20:.0f}: "
            f"ratio {highest / (QUOTA_BYTES + STORE_SLACK_BYTES):.2f}); last third "
            f"{min(store_last) / 2**20:.0f}..{max(store_last) / 2**20:.0f} MiB "
            f"{'OK' if store_ok else 'CHECK'}"
        )
        print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("result: " + ("flat" if ok else "CHECK"))
    sys.exit(0 if ok else 1)


def report(name: str, s: Series) -> bool:
    third = max(2, len(s.times) // 3)
    slope, se = slope_mib_per_hour(s.times[-third:], s.rss[-third:])
    whole, whole_se = slope_mib_per_hour(s.times, s.rss)
    levelled = slope <= SLOPE_LIMIT_MIB_H or slope < 2 * se
    fd_first, fd_last = thirds(s.fds)
    th_first, th_last = thirds(s.threads)
    fds_flat = max(fd_last) <= max(fd_first) + FLAT_SLACK
    threads_flat = max(th_last) <= max(th_first) + FLAT_SLACK
    warm, end = statistics.median(s.rss[: len(s.rss) // 5 or 1]), statistics.median(s.rss[-third:])
    print(
        f"{name:<7} RSS warm {warm:6.1f}, end {end:6.1f}, max {max(s.rss):6.1f} MiB; slope over the "
        f"last third {slope:+.2f} ± {se:.2f} MiB/h (limit {SLOPE_LIMIT_MIB_H}: ratio "
        f"{max(0.0, slope) / SLOPE_LIMIT_MIB_H:.2f}), whole run {whole:+.2f} ± {whole_se:.2f}\n"
        f"        fds first third max {max(fd_first)}, last third {min(fd_last)}..{max(fd_last)}; "
        f"threads {max(th_first)} -> {min(th_last)}..{max(th_last)} "
        f"{'OK' if levelled and fds_flat and threads_flat else 'CHECK'}",
        flush=True,
    )
    return levelled and fds_flat and threads_flat


if __name__ == "__main__":
    main()
