"""CPU of the capture path for an H.264 1080p30 source (limit: <= 25 % of one core, no frame lost).

Sources: a file played in real time, and (when Debian's rtsp-server-perl is
installed) an RTSP camera: a child process publishes the same video to a local
RTSP server and this process captures it. Measured in this process only: demux,
normal form, ring, no detection listener (decoding for detection is counted
separately, in DetectionHealth.frames_decoded). Printed beside it: a bare PyAV
demux loop over the same file, the floor this path is compared with.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

from agent.capture.config import FileCameraConfig, RtspCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.factory import make_source
from bench.capture_common import ROOT, media

SECONDS = 20.0
LIMIT = 0.25


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, camera: FileCameraConfig | RtspCameraConfig, expected_fps: float) -> None:
    ring = PacketRing(camera.id, 32)
    runner = CameraRunner(camera.id, lambda: make_source(camera), ring, FrameTap(camera.id, 640))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while (
        runner.frames_captured < 30 and time.monotonic() < deadline
    ):  # warm-up: connected, first GOP
        time.sleep(0.05)
    frames0, cpu0, wall0 = runner.frames_captured, cpu_seconds(), time.monotonic()
    reconnects0, dropped0 = runner.reconnects, runner.frames_dropped
    time.sleep(SECONDS)
    frames, cpu, wall = (
        runner.frames_captured - frames0,
        cpu_seconds() - cpu0,
        time.monotonic() - wall0,
    )
    runner.stop()
    thread.join(10)
    share = cpu / wall
    expected = expected_fps * wall
    dropped = runner.frames_dropped - dropped0
    print(
        f"{name:<6} {frames} frames in {wall:.1f} s ({frames / wall:.2f} fps of {expected_fps:g}); "
        f"dropped {dropped}, reconnects {runner.reconnects - reconnects0} (after warm-up)"
    )
    print(
        f"{name:<6} CPU {share * 100:.1f} % of one core; ratio to the {LIMIT * 100:.0f} % limit {share / LIMIT:.2f}  "
        f"{'OK' if share <= LIMIT and dropped == 0 and frames >= expected - 2 else 'CHECK'}"
    )


def bare_demux(path: Path) -> None:
    import av

    cpu0 = cpu_seconds()
    count = 0
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            count += 1
            bytes(packet)
    cpu = cpu_seconds() - cpu0
    seconds_of_video = count / 30
    print(
        f"bare   PyAV demux of {count} frames: {cpu * 1000:.0f} ms CPU = {cpu / seconds_of_video * 100:.2f} % of a core at real time"
    )


def publish(video: str, url: str) -> None:
    from tests.agent.capture.rtsp import RtspPublisher

    publisher = RtspPublisher(Path(video), url)
    publisher.start()
    while True:
        time.sleep(1)
        if publisher.error is not None:
            raise SystemExit(f"publisher failed: {publisher.error}")


def main() -> None:
    video = media(1920, 1080, 10, 6000)
    bare_demux(video.path)
    measure("file", FileCameraConfig(id="file", path=video.path, realtime=True, loop=True), 30)
    if shutil.which("rtsp-server-perl") is None:
        print("rtsp   skipped: rtsp-server-perl is not installed (scripts/setup.sh installs it)")
        return
    from tests.agent.capture.rtsp import RtspServer

    server = RtspServer(Path("/tmp/sideline-bench-rtsp.log"))
    server.start()
    child = subprocess.Popen(
        [sys.executable, __file__, "publish", str(video.path), server.publish_url("bench")],
        cwd=ROOT,
    )
    try:
        time.sleep(1.5)
        measure("rtsp", RtspCameraConfig(id="rtsp", url=server.url("bench"), transport="udp"), 30)
    finally:
        child.kill()
        child.wait()
        server.stop()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "publish":
        publish(sys.argv[2], sys.argv[3])
    else:
        main()
