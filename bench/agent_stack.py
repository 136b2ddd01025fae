"""The whole embedded stack with a box configured as a benchmark needs it.

``BoxStack`` is ``sideline demo`` (Mosquitto, SeaweedFS, the ingest and the
API on SQLite, the agent as its own process) with the agent's camera, clip
window, detection and recording chosen by the benchmark, and optionally the
agent started inside a CPU-quota cgroup. The benches that measure the box as
a whole (memory, Pi-class CPU, SD-card writes, the soak) share it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from sideline.demo import Demo, DemoOptions, request_json  # noqa: E402
from sideline.services.process import ManagedProcess, free_port  # noqa: E402

__all__ = [
    "BoxOptions",
    "BoxStack",
    "call",
    "detection_model",
    "file_camera",
    "ready_clips",
    "rss_mib",
    "slope_mib_per_hour",
]


def file_camera(path: Path) -> str:
    """An IP camera stand-in: an H.264 file demuxed in real time, looped, never re-encoded."""
    return f'kind = "file"\npath = {json.dumps(str(path))}\nloop = true\nrealtime = true'


def test_pattern(width: int, height: int, fps: float) -> str:
    """A camera that gives raw frames: the box encodes them (libx264 here)."""
    return f'kind = "test"\nwidth = {width}\nheight = {height}\nfps = {fps}'


def detection_model(directory: Path, size: int = 320) -> Path:
    """YOLOv8n's architecture at ``size`` (random weights: its cost, not its knowledge)."""
    from bench.yolov8n_graph import write_yolov8n

    return write_yolov8n(directory, size)


@dataclass
class BoxOptions:
    camera: str  # the [[cameras]] body after id (file_camera(...), test_pattern(...))
    pre_seconds: float = 30.0
    post_seconds: float = 5.0
    ring_seconds: float = 32.0
    detect_model: Path | None = None  # None: detection off
    detect_fps: float = 5.0
    detect_threads: int | None = None  # None: the config's default
    recording: bool = False
    segment_seconds: float = 10.0
    cpu_cgroup: Path | None = None  # the agent is started inside this cgroup (cgroup.procs)
    extra: str = ""  # more TOML appended to the agent's config
    env: dict[str, str] = field(default_factory=dict)


class BoxStack(Demo):
    """The demo's stack with the box a benchmark asks for."""

    def __init__(self, work: Path, box: BoxOptions) -> None:
        super().__init__(
            DemoOptions(
                data_dir=work / "demo",
                api_port=free_port(),
                lan_port=free_port(),
                pre_seconds=box.pre_seconds,
                post_seconds=box.post_seconds,
            )
        )
        self.box = box

    def _capture_sections(self) -> str:
        box = self.box
        sections = [
            f'[[cameras]]\nid = "main"\n{box.camera}',
            f"[clips]\npre_seconds = {box.pre_seconds}\npost_seconds = {box.post_seconds}\n"
            f"max_pre_seconds = {max(30.0, box.pre_seconds)}\nring_seconds = {box.ring_seconds}",
            f"[recording]\nenabled = {'true' if box.recording else 'false'}\n"
            f"segment_seconds = {box.segment_seconds}",
        ]
        if box.detect_model is not None:
            detect = (
                f'[detect]\nenabled = true\nmodel = "{box.detect_model}"\nfps = {box.detect_fps}'
            )
            if box.detect_threads is not None:
                detect += f"\nthreads = {box.detect_threads}"
            sections.append(detect)
        if box.extra:
            sections.append(box.extra)
        return "\n\n".join(sections)

    def _spawn(self, name: str, *args: str) -> ManagedProcess:
        if name != "agent":
            return super()._spawn(name, *args)
        argv = [sys.executable, "-m", "sideline", *args]
        if self.box.cpu_cgroup is not None:
            # Join the cgroup before exec: every thread the agent makes is inside the quota.
            procs = self.box.cpu_cgroup / "cgroup.procs"
            argv = ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "agent", *argv]
        env = {**os.environ, **self.box.env} if self.box.env else None
        process = ManagedProcess(
            name, argv, log_path=self.logs / f"{name}.log", env=env, term_timeout_s=30.0
        )
        process.start()
        self.processes.append(process)
        return process

    # -- what the benches ask of it --------------------------------------------------------

    def process(self, name: str) -> psutil.Process:
        for managed in self.processes:
            if managed.name == name and managed.pid is not None:
                return psutil.Process(managed.pid)
        raise KeyError(name)

    def press(self, note: str) -> list[str]:
        state = self._state()
        answer = call(f"{self.lan_url}/v1/clips", state.lan_token, {"note": note})
        return list(answer.get("clip_ids", []))

    def status(self) -> dict[str, Any]:
        return call(f"{self.lan_url}/v1/status", self._state().lan_token)

    def cloud_clips(self) -> list[dict[str, Any]]:
        state = self._state()
        assert state.session_id and state.api_token
        url = f"{self.api_url}/api/v1/orgs/demo/sessions/{state.session_id}/clips"
        clips: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = call(url + (f"?cursor={cursor}" if cursor else ""), state.api_token)
            clips += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return clips


def call(url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (or POST ``body``) with the bearer token, as the demo itself calls its parts."""
    headers = {"Authorization": f"Bearer {token}"}
    return request_json("GET" if body is None else "POST", url, headers=headers, body=body)


def ready_clips(stack: BoxStack, expected: int, timeout_s: float = 180.0) -> int:
    """Wait until ``expected`` clips are ready in the cloud (or time runs out); how many are."""
    deadline = time.monotonic() + timeout_s
    ready = 0
    while time.monotonic() < deadline:
        ready = sum(1 for clip in stack.cloud_clips() if clip["status"] == "ready")
        if ready >= expected:
            break
        time.sleep(2)
    return ready


def rss_mib(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20


def slope_mib_per_hour(times: list[float], values: list[float]) -> tuple[float, float]:
    """Least-squares slope and its standard error, in MiB per hour."""
    n = len(times)
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    sxx = sum((t - mean_t) ** 2 for t in times)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / sxx
    residuals = [v - (mean_v + slope * (t - mean_t)) for t, v in zip(times, values, strict=True)]
    se = (sum(r * r for r in residuals) / max(1, n - 2) / sxx) ** 0.5
    return slope * 3600, se * 3600


@contextmanager
def cpu_quota_cgroup(name: str, cores: float, period_us: int = 100_000) -> Iterator[Path]:
    """A CFS bandwidth cgroup allowing ``cores`` CPUs: cgroup v2 ``cpu.max`` where the cpu
    controller is on the unified hierarchy, else cgroup v1 ``cpu.cfs_quota_us`` (this machine:
    a hybrid layout with cpu on v1, and no systemd as PID 1 for ``systemd-run``). Needs root."""
    quota = round(cores * period_us)
    unified = Path("/sys/fs/cgroup")
    if "cpu" in _read(unified / "cgroup.controllers").split():
        (unified / "cgroup.subtree_control").write_text("+cpu")
        group = unified / name
        group.mkdir(exist_ok=True)
        (group / "cpu.max").write_text(f"{quota} {period_us}")
    else:
        group = unified / "cpu" / name
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text(str(period_us))
        (group / "cpu.cfs_quota_us").write_text(str(quota))
    try:
        yield group
    finally:
        for pid in _read(group / "cgroup.procs").split():  # leftovers go back to the root
            try:
                (group.parent / "cgroup.procs").write_text(pid)
            except OSError:
                pass
        try:
            group.rmdir()
        except OSError:
            pass


def throttling(group: Path) -> dict[str, int]:
    """The cgroup's cpu.stat (v1: nr_periods, nr_throttled, throttled_time ns; v2: *_usec)."""
    stats = {}
    for line in _read(group / "cpu.stat").splitlines():
        key, _, value = line.partition(" ")
        stats[key] = int(value)
    return stats


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
