"""Detection beside a 720p30 capture loop: does capture keep every frame and keep time?

    python bench/detect_capture.py [--seconds 10] [--fps 5]

A *stand-in* for the capture package (agent/capture, built separately): one
thread reads a 720p30 H.264 file with PyAV at the camera's pace, keeps every
packet (as the pre-roll ring would), decodes each frame, scales it to 640x360
(what a single-stream camera must do for detection) and hands it to
``DetectionWorker.on_frame``. The detection worker runs in its own thread with
a realistic model (about 0.84 GMAC at 320x320).

Printed: packets kept / packets produced (limit 1.0), how late the capture
loop ran behind the camera's clock (p99, max: a loop that cannot keep up
shows a growing lag), the on_frame call time, and the rate detection achieved.
Re-run with the real capture sources once they are merged: the figure that
counts is the real recorder's frames recorded / frames produced.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.detect.config import DetectConfig  # noqa: E402
from agent.detect.worker import DetectionWorker  # noqa: E402
from agent.interfaces.frames import Frame  # noqa: E402
from bench.detect import open_detector, realistic_model  # noqa: E402
from tests.agent.detect.fakes import RecordingSink  # noqa: E402
from tests.agent.detect.scenes import BALL, PERSON, Figure, render  # noqa: E402


def write_720p(path: Path, seconds: float) -> int:
    count = int(seconds * 30)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "30"}
        stream.time_base = Fraction(1, 30)
        for index in range(count):
            figures = [
                Figure(BALL, 80 + (index * 11) % 1100, 300, 60, 60),
                Figure(PERSON, 200 + (index * 3) % 800, 200, 80, 150),
            ]
            frame = av.VideoFrame.from_ndarray(render(figures, 1280, 720), format="bgr24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=5.0, help="detection rate asked for")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        video = directory / "720p30.mp4"
        produced = write_720p(video, args.seconds)
        model = realistic_model(directory, 320)
        detector = open_detector(model, args.threads)
        worker = DetectionWorker(
            DetectConfig(enabled=True, model=model, fps=args.fps),
            ["cam1"],
            detector,
            RecordingSink(),
        )
        kept: list[av.Packet] = []  # stands in for the pre-roll ring
        lag_ms: list[float] = []
        listener_ms: list[float] = []
        worker.start()
        stop = threading.Event()
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            started = time.time()
            index = 0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                assert packet.pts is not None and stream.time_base is not None
                due = started + float(packet.pts * stream.time_base)
                stop.wait(max(0.0, due - time.time()))  # the camera's pace
                kept.append(packet)
                for decoded in packet.decode():
                    small = decoded.reformat(width=640, height=360, format="bgr24").to_ndarray()
                    frame = Frame("cam1", np.ascontiguousarray(small), time.time(), index)
                    t0 = time.perf_counter()
                    worker.on_frame(frame)
                    listener_ms.append((time.perf_counter() - t0) * 1e3)
                    index += 1
                lag_ms.append((time.time() - due) * 1e3)
        elapsed = time.time() - started
        health = worker.health()[0]
        worker.stop()
    lag_ms.sort()
    listener_ms.sort()
    ratio = len(kept) / produced
    print(
        f"stand-in capture: 1280x720 H.264 at 30 fps for {args.seconds:g} s ({produced} frames), detection asked for {args.fps:g} fps, {args.threads} inference thread(s)"
    )
    print(
        f"  packets kept / produced   {len(kept)} / {produced} = {ratio:.3f}   limit 1.0   {'OK' if ratio == 1.0 else 'LOST'}"
    )
    print(
        f"  frames decoded for detection {index}; capture ran {elapsed:.2f} s for {args.seconds:g} s of video"
    )
    print(
        f"  capture lag behind the camera clock: p50 {lag_ms[len(lag_ms) // 2]:.1f} ms, p99 {lag_ms[int(len(lag_ms) * 0.99)]:.1f} ms, max {lag_ms[-1]:.1f} ms"
    )
    print(
        f"  on_frame: p50 {listener_ms[len(listener_ms) // 2]:.3f} ms, p99 {listener_ms[int(len(listener_ms) * 0.99)]:.3f} ms, max {listener_ms[-1]:.3f} ms"
    )
    print(
        f"  detection achieved {health.fps:.2f} fps ({health.inferences} inferences, {health.skipped_still} still, "
        f"{health.skipped_busy} skipped busy, p50 {health.inference_ms_p50} ms)"
    )


if __name__ == "__main__":
    main()
