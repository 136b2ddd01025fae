"""Detection benchmarks: detector overhead, the motion gate on a still scene, achieved rate.

    python bench/detect.py [--iterations 60] [--seconds 8]

1. Overhead: a full ``Detector.detect(frame)`` (letterbox, normalise, inference,
   decode, NMS, map back) against the bare ``session.run`` of the same model
   on the same (already prepared) input, interleaved in one run. The model is
   a YOLOv8-layout detector with 80 classes and 2,100 anchors at 320x320 (8,400
   at 640x640) behind a conv stack of about 0.84 GMAC at 320 (3.4 at 640), about
   YOLOv8n's cost, so that inference time is realistic. Limit: ratio <= 1.25.
2. Motion gate: a still field (sensor noise, then H.264 encoded and decoded)
   through the worker at 30 fps; share of frames whose inference was skipped.
   Limit: >= 90 %.
3. Rate: the worker in its own thread on a 30 fps moving scene, asked for
   5 fps and for 30 fps; the rate it reports, and the frames it skipped busy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.detect.config import DetectConfig  # noqa: E402
from agent.detect.detector import Detector  # noqa: E402
from agent.detect.manifest import load_manifest  # noqa: E402
from agent.detect.model import load_model  # noqa: E402
from agent.detect.session import SessionSettings  # noqa: E402
from agent.detect.worker import DetectionWorker  # noqa: E402
from agent.interfaces.frames import Frame  # noqa: E402
from tests.agent.detect.fakes import RecordingSink  # noqa: E402
from tests.agent.detect.scenes import BALL, BIB, PERSON, Figure, decode_video, render, write_video  # noqa: E402
from tests.agent.detect.synthetic_models import (  # noqa: E402
    build_colour_detector,
    manifest_for,
    write_model,
)

CLASSES = [BALL, PERSON, BIB]
BACKBONE = [16, 32, 64, 64, 128, 128]
SCENE = [
    Figure(BALL, 100, 50, 30, 30),
    Figure(PERSON, 300, 150, 40, 70),
    Figure(PERSON, 480, 200, 40, 70),
]


def realistic_model(directory: Path, size: int) -> Path:
    extra = 77
    model = build_colour_detector(
        "yolov8",
        CLASSES,
        width=size,
        height=size,
        extra_classes=extra,
        backbone=BACKBONE,
        max_figure=40 * size // 320,  # the scene's figures, scaled into the input
    )
    manifest = manifest_for("yolov8", CLASSES, width=size, height=size, extra_classes=extra)
    return write_model(directory, f"bench-{size}", model, manifest)


def open_detector(path: Path, threads: int) -> Detector:
    manifest = load_manifest(path.with_suffix(".json"))
    return Detector(load_model(path, manifest, SessionSettings(threads=threads), warmup_runs=3))


def overhead(path: Path, iterations: int, threads: int) -> float:
    detector = open_detector(path, threads)
    frame = render(SCENE)
    session = detector.model.session
    feed = {detector.model.input_name: detector._preprocess(frame)[0].copy()}
    found = detector.detect(frame)
    assert len(found) == 3, f"the benchmark scene should give 3 detections, got {len(found)}"
    bare: list[float] = []
    full: list[float] = []
    stages: list[tuple[float, float, float]] = []
    for _ in range(iterations):  # interleaved, so machine noise hits both alike
        started = time.perf_counter()
        session.run(None, feed)
        bare.append((time.perf_counter() - started) * 1e3)
        started = time.perf_counter()
        result = detector.detect(frame)
        full.append((time.perf_counter() - started) * 1e3)
        t = result.timings
        stages.append((t.preprocess_ms, t.inference_ms, t.postprocess_ms))
    bare_ms, full_ms = statistics.median(bare), statistics.median(full)
    pre, inf, post = (statistics.median(s[i] for s in stages) for i in range(3))
    ratio = full_ms / bare_ms
    spec = detector.manifest.input
    print(
        f"overhead {spec.width}x{spec.height} ({len(detector.classes)} classes, "
        f"{detector.manifest.grid_size()} anchors, frame 640x360, {threads} threads, {iterations} runs):"
    )
    print(f"  bare session.run      median {bare_ms:8.2f} ms")
    print(
        f"  detect(frame)         median {full_ms:8.2f} ms  (pre {pre:.2f} + run {inf:.2f} + post {post:.2f})"
    )
    print(
        f"  ratio detect / bare   {ratio:8.3f}   limit 1.25   {'OK' if ratio <= 1.25 else 'OVER'}"
    )
    return ratio


def still_gate(path: Path, directory: Path, frames: int) -> float:
    rng = np.random.default_rng(5)
    images = [render(SCENE, noise=2.5, rng=rng) for _ in range(frames)]
    video = write_video(directory / "still.mp4", images, fps=30)
    detector = open_detector(path, 2)
    config = DetectConfig(enabled=True, model=path, fps=30)
    worker = DetectionWorker(config, ["cam1"], detector, RecordingSink())
    count = 0
    for frame in decode_video(video):
        worker.on_frame(frame)
        worker.process_pending()
        count += 1
    health = worker.health()[0]
    skipped = health.skipped_still / count
    print(
        f"motion gate on a still scene ({count} frames of H.264 at 30 fps, refresh every {config.motion.refresh_s:g} s):"
    )
    print(f"  inferences {health.inferences}, skipped still {health.skipped_still}")
    print(f"  skipped {skipped:.1%}   limit >= 90%   {'OK' if skipped >= 0.9 else 'UNDER'}")
    return skipped


def achieved_rate(path: Path, seconds: float, fps: float) -> None:
    detector = open_detector(path, 2)
    config = DetectConfig(enabled=True, model=path, fps=fps)
    worker = DetectionWorker(config, ["cam1"], detector, RecordingSink())
    frames = [render([Figure(BALL, 40 + (i * 9) % 560, 150, 30, 30)]) for i in range(90)]
    stop = threading.Event()
    listener_ms: list[float] = []
    worker.start()
    started = time.time()
    index = 0
    while time.time() - started < seconds:
        frame = Frame("cam1", frames[index % len(frames)], time.time(), index)
        t0 = time.perf_counter()
        worker.on_frame(frame)
        listener_ms.append((time.perf_counter() - t0) * 1e3)
        index += 1
        stop.wait(max(0.0, started + index / 30 - time.time()))
    health = worker.health()[0]
    worker.stop()
    listener_ms.sort()
    print(
        f"worker asked for {fps:g} fps on a 30 fps source for {seconds:g} s: achieved {health.fps:.2f} fps, "
        f"{health.inferences} inferences, {health.skipped_busy} skipped busy, p50 {health.inference_ms_p50} ms; "
        f"on_frame p99 {listener_ms[int(len(listener_ms) * 0.99)]:.3f} ms, max {listener_ms[-1]:.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        small = realistic_model(directory, 320)
        large = realistic_model(directory, 640)
        ratios = [
            overhead(small, args.iterations, args.threads),
            overhead(large, max(10, args.iterations // 3), args.threads),
        ]
        skipped = still_gate(small, directory, 300)
        achieved_rate(small, args.seconds, 5)
        achieved_rate(small, args.seconds, 30)
    ok = all(r <= 1.25 for r in ratios) and skipped >= 0.9
    print("all limits met" if ok else "a limit was missed")


if __name__ == "__main__":
    main()
