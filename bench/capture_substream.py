"""What a detection substream saves: one RTSP camera at 1080p30 with detection at 5 fps.

    python bench/capture_substream.py [--seconds 20]

A local RTSP server (Debian's rtsp-server-perl) relays two streams that child
processes publish in real time: the main stream (1080p30, 6 Mbit/s) and a
substream (640x360 at 30 fps, 0.8 Mbit/s: a camera's second stream, here at
its worst-case frame rate). The agent's CaptureService captures the camera
twice, with a detection listener at 5 fps:

  * single stream: no ``substream_url``, so the tap decodes the main stream
    (every frame of each GOP up to the frames detection asks for);
  * with substream: ``substream_url`` set, so the main stream is only recorded
    (ring) and the tap decodes the substream.

Printed: this process's CPU as a share of one core (limit 25 %, capture's
budget in the capture issue), frames decoded, frames delivered to detection,
the main stream's frames captured and dropped, and the ratio of the two CPU
figures.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

from agent.capture.service import CaptureService
from agent.config import AgentConfig
from agent.interfaces.frames import Frame
from agent.interfaces.sinks import LocalClip
from bench.capture_common import ROOT, media

LIMIT = 0.25
DETECT_FPS = 5.0


class DiscardClips:
    def add_clip(self, clip: LocalClip) -> None:
        pass


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, camera: dict[str, object], data_dir: Path, seconds: float) -> float:
    config = AgentConfig(
        device={"org": "bench", "id": "box", "data_dir": data_dir},
        cameras=[camera],
    )
    service = CaptureService(config, DiscardClips())
    frames: list[Frame] = []
    service.add_frame_listener("ip", frames.append, fps=DETECT_FPS)
    runner = service.runners["ip"]
    service.start()
    try:
        deadline = time.monotonic() + 20
        while (runner.frames_captured < 60 or len(frames) < 5) and time.monotonic() < deadline:
            time.sleep(0.05)  # warm-up: connected, first GOPs decoded
        captured0, dropped0, delivered0 = runner.frames_captured, runner.frames_dropped, len(frames)
        decoded0 = service.frames_decoded("ip")
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
        captured = runner.frames_captured - captured0
        dropped = runner.frames_dropped - dropped0
        delivered = len(frames) - delivered0
        decoded = service.frames_decoded("ip") - decoded0
    finally:
        service.stop(10)
    share = cpu / wall
    size = f"{frames[-1].width}x{frames[-1].height}" if frames else "none"
    print(
        f"{name:<16} CPU {share * 100:5.1f} % of one core (limit {LIMIT * 100:.0f} %: ratio "
        f"{share / LIMIT:.2f}); main stream {captured} frames ({captured / wall:.2f} fps), "
        f"dropped {dropped}; decoded for detection {decoded} ({decoded / wall:.1f}/s); "
        f"to detection {delivered} frames ({delivered / wall:.2f} fps) of {size}"
    )
    return share


def publish(video: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "capture_cpu.py"), "publish", str(video), url],
        cwd=ROOT,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    if shutil.which("rtsp-server-perl") is None:
        raise SystemExit("rtsp-server-perl is not installed (scripts/setup.sh installs it)")
    from tests.agent.capture.rtsp import RtspServer

    main_video = media(1920, 1080, 10, 6000)
    sub_video = media(640, 360, 10, 800)
    server = RtspServer(Path("/tmp/sideline-bench-rtsp-substream.log"))
    server.start()
    children = [
        publish(main_video.path, server.publish_url("main")),
        publish(sub_video.path, server.publish_url("sub")),
    ]
    data = Path("/tmp/sideline-bench-substream")
    shutil.rmtree(data, ignore_errors=True)
    try:
        time.sleep(2.0)
        camera: dict[str, object] = {
            "id": "ip",
            "kind": "rtsp",
            "url": server.url("main"),
            "transport": "udp",
        }
        single = measure("single stream", camera, data / "single", args.seconds)
        with_sub = measure(
            "with substream",
            {**camera, "substream_url": server.url("sub")},
            data / "substream",
            args.seconds,
        )
        print(
            f"substream / single stream CPU: {with_sub / single:.2f} "
            f"({(single - with_sub) * 100:.1f} % of a core saved per camera)"
        )
    finally:
        for child in children:
            child.kill()
            child.wait()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
