"""The agent's memory on a box's budget: one 1080p camera, 30 s pre-roll, detection at 5 fps.

    python bench/agent_memory.py [--seconds 120] [--warmup 60] [--only detect|nodetect]

Runs the whole embedded stack (``bench/agent_stack.py``) with the agent as its
own process on a 1080p30 H.264 camera at 6 Mbit/s (a file demuxed in real time,
as an IP camera's stream is: never re-encoded), a 30 s pre-roll (ring 32 s),
5 s post-roll, a press every 20 s (clips written and uploaded) and, in the
first run, detection at 5 fps on YOLOv8n's architecture at 320x320
(``bench/yolov8n_graph.py``); the second run has detection off. After ``--warmup`` (the ring
full, the first clips uploaded) the agent's RSS is sampled every 2 s for
``--seconds``.

Printed per run: RSS median and maximum against the limit (200 MiB with
detection, 120 MiB without) and the ratio; where the resident pages are, from
``/proc/<pid>/smaps`` (each library by package, the malloc heap, anonymous
memory: malloc arenas, thread stacks, onnxruntime's arena, FFmpeg's frame
pools); and, first, what importing each module the agent loads costs in a
fresh interpreter.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.agent_stack import (  # noqa: E402
    BoxOptions,
    BoxStack,
    detection_model,
    file_camera,
    ready_clips,
    rss_mib,
)
from bench.capture_common import media  # noqa: E402

LIMITS_MIB = {"detect": 200.0, "nodetect": 120.0}

IMPORTS = [
    "pydantic",
    "protocol",
    "core.settings",
    "agent.config",
    "numpy",
    "av",
    "peewee",
    "paho.mqtt.client",
    "boto3",
    "psutil",
    "agent.daemon",
    "sideline.cli",
    "cv2",
    "onnxruntime",
]

_IMPORT_PROBE = """
import sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
previous = rss()
print(f"interpreter {previous:.1f}")
for name in sys.argv[1:]:
    __import__(name)
    now = rss()
    print(f"{name} {now - previous:.1f}")
    previous = now
print(f"total {previous:.1f}")
"""


def import_costs() -> list[tuple[str, float]]:
    """RSS each import adds, in the order the agent loads them, in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, *IMPORTS],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return [(line.rsplit(" ", 1)[0], float(line.rsplit(" ", 1)[1])) for line in out.splitlines()]


_GROUPS = [
    ("onnxruntime", re.compile(r"onnxruntime")),
    ("OpenCV", re.compile(r"cv2|opencv")),
    ("PyAV / FFmpeg", re.compile(r"/av/|av\.libs|libav|libsw|libx264|libdav1d|libvpx")),
    ("numpy / OpenBLAS", re.compile(r"numpy|openblas|scipy_openblas")),
    ("pydantic-core", re.compile(r"pydantic_core")),
    ("interpreter", re.compile(r"python3|libpython")),
    ("SQLite", re.compile(r"sqlite")),
    ("OpenSSL / crypto", re.compile(r"libssl|libcrypto|_ssl|_hashlib")),
]


def smaps_breakdown(pid: int) -> dict[str, float]:
    """Resident MiB by what the pages belong to."""
    totals: dict[str, float] = defaultdict(float)
    name = ""
    with open(f"/proc/{pid}/smaps") as handle:
        for line in handle:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split(maxsplit=5)
                name = parts[5].strip() if len(parts) > 5 else ""
            elif line.startswith("Rss:"):
                kib = int(line.split()[1])
                totals[_group(name)] += kib / 1024
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def _group(path: str) -> str:
    if path == "[heap]":
        return "malloc heap (main arena)"
    if path == "":
        return "anonymous (malloc arenas, thread stacks, onnxruntime arena, frame pools)"
    if path.startswith("["):
        return "stacks and kernel pages"
    for label, pattern in _GROUPS:
        if pattern.search(path):
            return label + " (code and data)"
    if ".so" in path:
        return "other shared libraries"
    return "other files"


def run(label: str, args: argparse.Namespace, video: Path, model: Path | None) -> bool:
    work = Path(tempfile.mkdtemp(prefix=f"sideline-mem-{label}-"))
    box = BoxOptions(
        camera=file_camera(video),
        pre_seconds=30.0,
        post_seconds=5.0,
        detect_model=model,
        detect_fps=5.0,
    )
    stack = BoxStack(work, box)
    limit = LIMITS_MIB[label]
    print(
        f"\n== {label}: 1080p30 at 6 Mbit/s, 30 s pre-roll, "
        + ("detection at 5 fps (320x320)" if model else "detection off")
        + f"; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    stack.start()
    try:
        agent = stack.process("agent")
        presses = 0
        samples: list[float] = []
        started = time.monotonic()
        warm_at = started + args.warmup
        end_at = warm_at + args.seconds
        next_press, next_sample = started + 3, warm_at
        while time.monotonic() < end_at:
            now = time.monotonic()
            if now >= next_press:
                stack.press(f"press {presses}")
                presses += 1
                next_press += args.press_every
            if now >= next_sample:
                samples.append(rss_mib(agent))
                next_sample += 2.0
            dead = stack.dead_process()
            if dead is not None:
                raise SystemExit(f"{dead.name} died:\n{dead.log_tail()}")
            time.sleep(0.1)
        breakdown = smaps_breakdown(agent.pid)
        detection = stack.status().get("detection") or {}
        ready = ready_clips(stack, presses, timeout_s=90)
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)
    median, peak = statistics.median(samples), max(samples)
    print(
        f"agent RSS median {median:.1f} MiB, max {peak:.1f} MiB over {len(samples)} samples "
        f"(limit {limit:.0f} MiB: ratio {peak / limit:.2f}); presses {presses}, ready clips {ready}"
    )
    if detection:
        print(f"detection as the box reports it: {detection}")
    print("resident pages at the end:")
    for group, mib in breakdown.items():
        print(f"  {mib:7.1f} MiB  {group}")
    return peak <= limit and ready >= presses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--press-every", type=float, default=20.0)
    parser.add_argument("--only", choices=sorted(LIMITS_MIB))
    parser.add_argument("--skip-imports", action="store_true")
    args = parser.parse_args()
    if not args.skip_imports:
        print("RSS each import adds (fresh interpreter, in the agent's order):")
        for name, mib in import_costs():
            print(f"  {name:<20} {mib:6.1f} MiB")
    video = media(1920, 1080, 60, 6000).path
    ok = True
    if args.only in (None, "detect"):
        with tempfile.TemporaryDirectory() as models:
            model = detection_model(Path(models))
            ok &= run("detect", args, video, model)
    if args.only in (None, "nodetect"):
        ok &= run("nodetect", args, video, None)
    print("result: " + ("within budget" if ok else "OVER BUDGET"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
