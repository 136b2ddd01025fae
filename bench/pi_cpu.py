"""The box on a Raspberry Pi 4's CPU: every frame recorded inside a calibrated CPU quota.

    python bench/pi_cpu.py [--seconds 90] [--warmup 40] [--upload-lag 3] [--no-substream]

Needs root (a cgroup). The agent runs as its own process inside a CFS
bandwidth cgroup that stands for a Raspberry Pi 4 (``cpu.max`` on cgroup v2,
``cpu.cfs_quota_us`` on v1; ``systemd-run -p CPUQuota=`` needs systemd as
PID 1). **Calibration**, once per run: Ultralytics publish YOLOv8n (ONNX,
FP32, 640x640) at 560.04 ms per image on a Raspberry Pi 4 with all its four
cores (docs.ultralytics.com, "Quick Start Guide: Raspberry Pi", YOLOv8 table
"YOLOv8n on RPi4"). The same network (``bench/yolov8n_graph.py``) is timed here
on one thread as CPU time per image, ``c``; a Pi 4 then does the work of
``c / 560.04`` of this machine's cores, and that is the quota. Taking the
Pi's four-thread time as if onnxruntime scaled perfectly over its cores makes
the quota the smallest a Pi 4 could be: serial work (Python, capture) gets
less here than on a Pi. The quota is checked by timing the same inference,
four threads, inside it.

Then the agent, inside the quota: an RTSP camera (``rtsp-server-perl``, the
publisher outside the quota in this process) sending 1080p30 H.264 at
6.8 Mbit/s with burned-in frame counters, and a 640x360 substream for
detection (``--no-substream``: detection decodes the main stream); the 30 s
ring; continuous recording in 5 s segments; detection at 5 fps with YOLOv8n at
320x320; a press every 20 s, clips uploaded through a proxy that holds every
S3 request ``--upload-lag`` seconds. Afterwards the recorded segments are
decoded and the frame counters read: **frames recorded / produced must be
1.0**. Printed beside it: detection's achieved rate and inference latency as
the box reports them, the CPU used of the quota and how often it throttled.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from agent.capture.sources.pattern import read_stamp  # noqa: E402
from bench.agent_stack import (  # noqa: E402
    BoxOptions,
    BoxStack,
    cpu_quota_cgroup,
    detection_model,
    ready_clips,
    throttling,
)
from bench.capture_common import media  # noqa: E402
from tests.agent.capture.rtsp import RtspPublisher, RtspServer  # noqa: E402
from tests.media import write_test_video  # noqa: E402

PI4_YOLOV8N_640_MS = 560.04
"""Ultralytics' Raspberry Pi guide (YOLOv8 edition): YOLOv8n, ONNX, FP32, 640x640, RPi 4."""

PI4_CORES = 4
LOOP_FRAMES = 1800  # the published file: 60 s at 30 fps, looped


# --- calibration ------------------------------------------------------------------------------

_TIMING = """
import sys, time, resource, numpy as np, onnxruntime as ort
path, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.log_severity_level = 3
options.enable_mem_pattern = False
options.add_session_config_entry("session.intra_op.allow_spinning", "0")
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
x = np.random.default_rng(1).random((1, 3, 640, 640), dtype=np.float32)
for _ in range(3):
    session.run(None, {"images": x})
cpu, wall = [], []
for _ in range(runs):
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    session.run(None, {"images": x})
    r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    cpu.append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000)
    wall.append((t1 - t0) * 1000)
cpu.sort(); wall.sort()
print(cpu[len(cpu) // 2], wall[len(wall) // 2])
"""


def time_inference(
    model: Path, threads: int, runs: int, cgroup: Path | None = None
) -> tuple[float, float]:
    """Median CPU ms and wall ms per 640x640 inference, in a child (inside ``cgroup``)."""
    import subprocess

    argv = [sys.executable, "-c", _TIMING, str(model), str(threads), str(runs)]
    if cgroup is not None:
        argv = ["sh", "-c", f'echo $$ > {cgroup / "cgroup.procs"} && exec "$@"', "t", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


# --- an S3 endpoint with lag --------------------------------------------------------------------


class LaggingProxy:
    """TCP proxy to ``port`` that holds each HTTP request ``lag_s`` before passing it on."""

    def __init__(self, port: int, lag_s: float) -> None:
        self.target = port
        self.lag_s = lag_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            answered = threading.Event()
            answered.set()  # the first bytes on a connection start a request
            threading.Thread(
                target=self._up, args=(client, upstream, answered), daemon=True
            ).start()
            threading.Thread(
                target=self._down, args=(upstream, client, answered), daemon=True
            ).start()

    def _up(
        self, client: socket.socket, upstream: socket.socket, answered: threading.Event
    ) -> None:
        try:
            while data := client.recv(1 << 16):
                if answered.is_set():  # the server answered since: this is a new request
                    answered.clear()
                    self.requests += 1
                    time.sleep(self.lag_s)
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()

    def _down(
        self, upstream: socket.socket, client: socket.socket, answered: threading.Event
    ) -> None:
        try:
            while data := upstream.recv(1 << 16):
                answered.set()
                client.sendall(data)
        except OSError:
            pass
        finally:
            client.close()


class PiStack(BoxStack):
    """The box's S3 endpoint goes through the lagging proxy."""

    proxy: LaggingProxy | None = None
    lag_s = 0.0

    def _write_agent_config(self) -> Path:
        path = super()._write_agent_config()
        if self.proxy is not None:
            state = self._state()
            text = path.read_text().replace(
                f"http://127.0.0.1:{state.s3_port}", f"http://127.0.0.1:{self.proxy.port}"
            )
            path.write_text(text)
        return path

    def _start_object_store(self) -> None:
        super()._start_object_store()
        if self.lag_s > 0:
            self.proxy = LaggingProxy(self._state().s3_port, self.lag_s)


# --- frames recorded ----------------------------------------------------------------------------


def recorded_stamps(segments: Path) -> list[int]:
    """Frame counters of every recorded frame, in recording order."""
    stamps: list[int] = []
    for path in sorted(segments.rglob("*.ts"), key=lambda p: int(p.stem.split("-")[0])):
        try:
            with av.open(str(path)) as container:
                for frame in container.decode(video=0):
                    grey = np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
                    stamp = read_stamp(grey)
                    stamps.append(-1 if stamp is None else stamp.index)
        except av.FFmpegError as exc:
            print(f"  segment {path.name}: {exc}")
    return stamps


def count(stamps: list[int], skip: int) -> tuple[int, int, int, int]:
    """(recorded, missing, doubled, unreadable) over the stamps after the first ``skip``."""
    recorded = missing = doubled = unreadable = 0
    previous: int | None = None
    for index in stamps[skip:]:
        if index < 0:
            unreadable += 1
            continue
        recorded += 1
        if previous is not None:
            gap = (index - previous) % LOOP_FRAMES
            if gap == 0:
                doubled += 1
            else:
                missing += gap - 1
        previous = index
    return recorded, missing, doubled, unreadable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--warmup", type=float, default=40.0)
    parser.add_argument("--upload-lag", type=float, default=3.0)
    parser.add_argument("--press-every", type=float, default=20.0)
    parser.add_argument("--no-substream", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: the quota is a cgroup")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="sideline-pi-"))
    try:
        model640 = detection_model(work / "model", 640)
        model320 = detection_model(work / "model", 320)
        cpu_ms, wall_ms = time_inference(model640, 1, 12)
        quota = cpu_ms / PI4_YOLOV8N_640_MS
        print(
            f"calibration: YOLOv8n 640x640 here, 1 thread: {cpu_ms:.0f} ms CPU ({wall_ms:.0f} ms wall); "
            f"a Pi 4 (all {PI4_CORES} cores): {PI4_YOLOV8N_640_MS} ms published -> "
            f"quota {quota:.3f} CPU of this machine ({quota * 100:.1f} % of one core)",
            flush=True,
        )
        with cpu_quota_cgroup("sideline-pi4", quota) as group:
            _, inside = time_inference(model640, PI4_CORES, 4, group)
            print(
                f"check: the same inference inside the quota, {PI4_CORES} threads: {inside:.0f} ms "
                f"(Pi 4: {PI4_YOLOV8N_640_MS} ms; ratio {inside / PI4_YOLOV8N_640_MS:.2f})",
                flush=True,
            )
            ok = run_box(args, work, group, quota, model320)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("result: " + ("every frame recorded" if ok else "CHECK"))
    sys.exit(0 if ok else 1)


def run_box(args: argparse.Namespace, work: Path, group: Path, quota: float, model: Path) -> bool:
    main_video = media(1920, 1080, 60, 6000).path
    sub_video = work / "sub.mp4"
    write_test_video(sub_video, width=640, height=360, seconds=60, bitrate_kbps=600, texture=True)
    rtsp = RtspServer(work / "rtsp.log")
    rtsp.start()
    publishers = [RtspPublisher(main_video, rtsp.publish_url("main")).start_and_wait()]
    camera = f'kind = "rtsp"\nurl = "{rtsp.url("main")}"\ntransport = "udp"'
    if not args.no_substream:
        publishers.append(RtspPublisher(sub_video, rtsp.publish_url("sub")).start_and_wait())
        camera += f'\nsubstream_url = "{rtsp.url("sub")}"'
    box = BoxOptions(
        camera=camera,
        pre_seconds=30.0,
        post_seconds=5.0,
        detect_model=model,
        detect_fps=5.0,
        recording=True,
        cpu_cgroup=group,
        segment_seconds=5.0,
    )
    stack = PiStack(work, box)
    stack.lag_s = args.upload_lag
    print(
        "box: RTSP 1080p30 6.8 Mbit/s"
        + ("" if args.no_substream else " + 640x360 substream for detection")
        + f", ring 32 s, segments on, detection 5 fps YOLOv8n 320, upload lag {args.upload_lag:g} s",
        flush=True,
    )
    throttled0 = throttling(group)
    try:
        stack.start()
        agent = stack.process("agent")
        cpu0 = agent.cpu_times()
        started = time.monotonic()
        presses, next_press = 0, started + 5
        status: dict[str, object] = {}
        while time.monotonic() - started < args.warmup + args.seconds:
            if time.monotonic() >= next_press:
                stack.press(f"press {presses}")
                presses += 1
                next_press += args.press_every
            dead = stack.dead_process()
            if dead is not None:
                raise SystemExit(f"{dead.name} died:\n{dead.log_tail()}")
            time.sleep(0.2)
        status = stack.status()
        cpu1 = agent.cpu_times()
        elapsed = time.monotonic() - started
        ready = ready_clips(stack, presses, timeout_s=120)
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
    finally:
        for publisher in publishers:
            publisher.stop()
        stack.stop()
        rtsp.stop()
        if stack.proxy is not None:
            stack.proxy.stop()
    throttled1 = throttling(group)
    stamps = recorded_stamps(stack.root / "agent" / "segments")
    skip = 30 * 10  # the first 10 s: the camera starting
    recorded, missing, doubled, unreadable = count(stamps, skip)
    produced = recorded + missing
    ratio = recorded / produced if produced else 0.0
    used = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed
    detection = (status.get("detection") or [{}])[0]  # type: ignore[index]
    periods = throttled1.get("nr_periods", 0) - throttled0.get("nr_periods", 0)
    throttled = throttled1.get("nr_throttled", 0) - throttled0.get("nr_throttled", 0)
    print(
        f"frames recorded {recorded} of {produced} produced = {ratio:.4f} (limit 1.0); "
        f"missing {missing}, doubled {doubled}, unreadable {unreadable} (after the first 10 s)"
    )
    print(
        f"detection: {detection.get('fps')} fps achieved of 5; inference p50 {detection.get('inference_ms_p50')} ms; "
        f"{detection.get('inferences')} inferences, {detection.get('skipped_busy')} skipped busy, "
        f"{detection.get('frames_decoded')} frames decoded"
    )
    print(
        f"agent CPU {used * 100:.1f} % of one core = {used / quota * 100 if quota else 0:.0f} % of the quota; "
        f"throttled in {throttled} of {periods} periods; presses {presses}, clips ready {ready}; "
        f"S3 requests held {stack.proxy.requests if stack.proxy else 0}"
    )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return produced > 0 and missing == 0 and doubled == 0 and ready >= presses


if __name__ == "__main__":
    main()
