"""Run the benchmarks listed in docs/architecture.md, one process each, and say which passed.

    python bench/run.py            # quick: smaller inputs and shorter windows (minutes)
    python bench/run.py --full     # the figures the docs quote (the better part of an hour)
    python bench/run.py drain api_timeline   # only these

Each benchmark prints its own figures beside the limit it names and the ratio;
this runner adds the load average before each (machines are shared: a figure
taken under load says so) and a summary of exit statuses at the end. Left out:
``detect_centerface.py``, which needs a pretrained model and a photograph that
are not in the repository (see docs/detect.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    name: str
    quick: tuple[str, ...] = ()  # arguments of the quick run (the full run takes none)


BENCHMARKS = (
    Benchmark("capture_ring_memory"),
    Benchmark("clip_ready"),
    Benchmark("capture_cpu"),
    Benchmark("capture_raw_encode"),
    Benchmark("clip_boundaries"),
    Benchmark("capture_transcode", ("10",)),  # seconds of video per source
    Benchmark("clip_ready_transcode"),
    Benchmark("capture_substream", ("--seconds", "6")),
    Benchmark("capture_with_detection", ("--seconds", "8")),
    Benchmark("detect", ("--iterations", "20", "--seconds", "3")),
    Benchmark("detect_capture", ("--seconds", "4")),
    Benchmark("store_commit", ("--count", "300")),
    Benchmark("sync_offline_rss", ("--records", "50000", "--seconds", "5")),
    Benchmark("drain", ("--records", "20000")),
    Benchmark("ingest", ("--records", "20000")),
    Benchmark(
        "api_timeline",
        ("--logs", "20000", "--clips", "3000", "--sessions", "3000", "--samples", "100"),
    ),
    Benchmark("scheduling", ("--requests", "20", "--samples", "60", "--runs", "3")),
    Benchmark("soak_memory", ("--minutes", "1.5", "--warmup", "0.5")),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the full runs the docs quote")
    parser.add_argument("names", nargs="*", help="only these benchmarks (default: all)")
    args = parser.parse_args()
    known = {b.name: b for b in BENCHMARKS}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = [known[name] for name in args.names] if args.names else list(BENCHMARKS)
    results: list[tuple[str, int, float]] = []
    for bench in chosen:
        argv = [sys.executable, str(BENCH / f"{bench.name}.py")]
        if not args.full:
            argv += bench.quick
        load = os.getloadavg()[0]
        print(f"\n=== {bench.name} {' '.join(argv[2:])} (load average {load:.2f})", flush=True)
        started = time.monotonic()
        status = subprocess.run(argv, check=False).returncode
        results.append((bench.name, status, time.monotonic() - started))
    print("\n=== summary (" + ("full" if args.full else "quick") + " runs)")
    for name, status, seconds in results:
        print(f"  {'ok  ' if status == 0 else 'FAIL'} {name:<24} {seconds:6.1f} s")
    sys.exit(0 if all(status == 0 for _, status, _ in results) else 1)


if __name__ == "__main__":
    main()
