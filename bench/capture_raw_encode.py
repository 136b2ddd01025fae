"""A raw 720p30 source encoded with libx264 in real time (limit: real time, no frame dropped).

The generated test pattern is paced to the clock (as a USB camera delivers) and
encoded by the capture path (EncodingSource, preset from config, zerolatency),
for 20 s on this machine. Printed: achieved fps / source fps, frames dropped,
CPU; and beside it a bare libx264 loop over the same frames, as fast as it goes.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

from agent.capture.config import TestPatternCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.factory import make_source
from agent.capture.sources.pattern import PatternPainter
from bench.capture_common import ROOT  # noqa: F401  (puts the checkout on sys.path)

SECONDS = 20.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_x264(frames: int = 150) -> float:
    painter = PatternPainter(1280, 720)
    images = [painter.paint(i, i) for i in range(frames)]
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = 1280, 720, "yuv420p"
    context.time_base, context.framerate = Fraction(1, 30), Fraction(30)
    context.bit_rate = 4_000_000
    context.options = {"preset": "veryfast", "tune": "zerolatency"}
    began = time.perf_counter()
    for index, image in enumerate(images):
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts = index
        context.encode(frame)
    return frames / (time.perf_counter() - began)


def main() -> None:
    camera = TestPatternCameraConfig(
        id="usb", width=1280, height=720, fps=30, bitrate_kbps=4000, preset="veryfast"
    )
    runner = CameraRunner(
        "usb", lambda: make_source(camera), PacketRing("usb", 32), FrameTap("usb", 640)
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    while runner.frames_captured < 30:
        time.sleep(0.05)
    frames0, dropped0, cpu0, wall0 = (
        runner.frames_captured,
        runner.frames_dropped,
        cpu_seconds(),
        time.monotonic(),
    )
    time.sleep(SECONDS)
    frames, cpu, wall = (
        runner.frames_captured - frames0,
        cpu_seconds() - cpu0,
        time.monotonic() - wall0,
    )
    dropped = runner.frames_dropped - dropped0
    runner.stop()
    thread.join(10)
    fps = frames / wall
    print(f"raw 720p30 -> libx264 veryfast/zerolatency, {SECONDS:.0f} s")
    print(f"achieved          {fps:.2f} fps of 30 = {fps / 30:.3f} of real time; dropped {dropped}")
    print(f"CPU               {cpu / wall * 100:.0f} % of one core (pattern + encode + ring)")
    bare = bare_x264()
    print(f"bare libx264      {bare:.0f} fps on the same frames (headroom {bare / 30:.1f}x)")
    print(f"result            {'OK' if dropped == 0 and fps >= 29.5 else 'CHECK'}")


if __name__ == "__main__":
    main()
