"""Memory over a soak: the whole embedded stack, a coach pressing every few seconds.

    python bench/soak_memory.py [--minutes 10] [--warmup 2] [--press-every 20]

Starts what ``sideline demo`` starts (Mosquitto, SeaweedFS, the ingest and the
API on SQLite, and the agent as its own process), with detection on: the
agent's camera is the 720p30 test pattern encoded with libx264, a synthetic
ONNX detector runs at 5 fps, clips are 10 s + 5 s. Every ``--press-every``
seconds a press on the box's LAN endpoint asks for a clip. After
``--warmup`` minutes (rings, caches and SQLite's page cache filled), each
process's RSS is sampled every 10 s for ``--minutes``.

Printed per process: RSS when warm and at the end, the growth between the
first and the last fifth of the samples (medians), and least-squares slopes
(MiB per hour, with standard errors) over the whole window and over each half:
bounded caches (SQLite's page cache fills as the databases grow) rise early
and level off, a leak keeps its slope. The limits this bench names: growth
over the run <= 5 % of the warm RSS, and over the second half a slope that is
not significantly positive (below two standard errors) or would take more than
30 days to add 64 MiB (0.09 MiB/h). And the function: every press must have
become a ready clip in the cloud.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from sideline.demo import Demo, DemoOptions, _request  # noqa: E402
from sideline.services.process import free_port  # noqa: E402
from tests.agent.detect.conftest import CLASSES  # noqa: E402
from tests.agent.detect.synthetic_models import (  # noqa: E402
    build_colour_detector,
    manifest_for,
    write_model,
)

SAMPLE_S = 10.0
GROWTH_LIMIT = 0.05  # of the warm RSS, over the run
SLOPE_LIMIT_MIB_H = 64 / (30 * 24)  # 64 MiB in 30 days


class SoakDemo(Demo):
    """The demo's stack, with detection on (a synthetic model in the data dir)."""

    def _write_agent_config(self) -> Path:
        path = super()._write_agent_config()
        model = write_model(
            self.root / "model",
            "soak",
            build_colour_detector("yolov8", CLASSES),
            manifest_for("yolov8", CLASSES),
        )
        with path.open("a") as handle:
            handle.write(f'\n[detect]\nenabled = true\nmodel = "{model}"\nfps = 5\n')
        return path


def call(url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (or POST ``body``) with the bearer token, as the demo itself calls its parts."""
    headers = {"Authorization": f"Bearer {token}"}
    return _request("GET" if body is None else "POST", url, headers=headers, body=body)


def slope_mib_per_hour(times: list[float], values: list[float]) -> tuple[float, float]:
    """Least-squares slope and its standard error, in MiB per hour."""
    n = len(times)
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    sxx = sum((t - mean_t) ** 2 for t in times)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / sxx
    residuals = [v - (mean_v + slope * (t - mean_t)) for t, v in zip(times, values, strict=True)]
    se = (sum(r * r for r in residuals) / max(1, n - 2) / sxx) ** 0.5
    return slope * 3600, se * 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--press-every", type=float, default=20.0)
    args = parser.parse_args()
    if args.minutes * 60 / SAMPLE_S < 8:
        parser.error(f"--minutes must give at least 8 samples ({8 * SAMPLE_S / 60:.1f} min)")
    work = Path(tempfile.mkdtemp(prefix="sideline-soak-"))
    demo = SoakDemo(
        DemoOptions(
            data_dir=work / "demo", api_port=free_port(), lan_port=free_port(), pre_seconds=10
        )
    )
    demo.start()
    ok = True
    try:
        state = demo.state
        assert state is not None and state.session_id is not None and state.api_token
        processes = {p.name: psutil.Process(p.pid) for p in demo.processes if p.pid is not None}
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in processes}
        presses = 0
        started = time.monotonic()
        warm_at = started + args.warmup * 60
        end_at = warm_at + args.minutes * 60
        next_press = started + 5
        next_sample = warm_at
        print(
            f"soak: {args.warmup:g} min warm-up, then {args.minutes:g} min sampled every "
            f"{SAMPLE_S:g} s; a press every {args.press_every:g} s",
            flush=True,
        )
        while time.monotonic() < end_at:
            now = time.monotonic()
            if now >= next_press:
                call(f"{demo.lan_url}/v1/clips", state.lan_token, {"note": f"press {presses}"})
                presses += 1
                next_press += args.press_every
            if now >= next_sample:
                for name, process in processes.items():
                    rss = process.memory_info().rss / 2**20
                    samples[name].append((now - warm_at, rss))
                next_sample += SAMPLE_S
            dead = demo.dead_process()
            if dead is not None:
                raise SystemExit(f"{dead.name} died during the soak:\n{dead.log_tail()}")
            time.sleep(0.2)
        session = f"{demo.api_url}/api/v1/orgs/demo/sessions/{state.session_id}/clips"
        deadline = time.monotonic() + 180
        ready = 0
        while time.monotonic() < deadline:
            clips, cursor = [], None
            while True:
                page = call(session + (f"?cursor={cursor}" if cursor else ""), state.api_token)
                clips += page["data"]
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            ready = sum(1 for clip in clips if clip["status"] == "ready")
            if ready >= presses:
                break
            time.sleep(2)
        print(f"presses {presses}; ready clips in the cloud {ready}", flush=True)
        ok &= ready >= presses
        for name, points in samples.items():
            times, values = [t for t, _ in points], [v for _, v in points]
            fifth = max(1, len(values) // 5)
            warm, end = statistics.median(values[:fifth]), statistics.median(values[-fifth:])
            half = len(values) // 2
            slope, se = slope_mib_per_hour(times, values)
            first, first_se = slope_mib_per_hour(times[:half], values[:half])
            second, second_se = slope_mib_per_hour(times[half:], values[half:])
            growth = end - warm
            levelled = second < 2 * second_se or second <= SLOPE_LIMIT_MIB_H
            verdict = growth <= GROWTH_LIMIT * warm and levelled
            ok &= verdict
            print(
                f"{name:<7} RSS warm {warm:7.1f} MiB, end {end:7.1f} MiB, max {max(values):7.1f}; "
                f"growth {growth:+6.1f} MiB = {growth / warm * 100:+5.1f} % "
                f"(limit {GROWTH_LIMIT * 100:.0f} %: ratio {max(0.0, growth) / (GROWTH_LIMIT * warm):.2f})\n"
                f"        slope {slope:+6.2f} ± {se:.2f} MiB/h over {len(values)} samples; "
                f"first half {first:+6.2f} ± {first_se:.2f}, second half {second:+6.2f} ± "
                f"{second_se:.2f} (limit {SLOPE_LIMIT_MIB_H:.2f} or not significant) "
                f"{'OK' if verdict else 'CHECK'}",
                flush=True,
            )
    finally:
        demo.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("result: " + ("flat" if ok else "CHECK"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
