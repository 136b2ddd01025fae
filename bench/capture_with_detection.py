"""Capture keeps every frame while detection runs (limit: frames recorded / produced = 1.0).

    python bench/capture_with_detection.py [--seconds 30] [--fps 5]

A 720p30 test-pattern camera (raw frames encoded with libx264, as a USB camera
is) runs through the real CaptureService with continuous recording on, while a
DetectionWorker runs a YOLOv8-layout model of about YOLOv8n's cost on the
camera's low-res frames at the requested rate. Afterwards the recorded
segments are decoded and the burned-in frame counters read back: every frame
the camera produced over the recorded span must be in a segment, exactly once.
Printed beside it: what detection achieved, and the CPU it all took.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

from agent.capture.config import RecordingConfig, TestPatternCameraConfig
from agent.capture.service import CaptureService
from agent.capture.sources.pattern import read_stamp
from agent.config import AgentConfig, DeviceConfig
from agent.detect.config import DetectConfig
from agent.detect.worker import DetectionWorker
from agent.interfaces.sinks import LocalClip
from bench.detect import open_detector, realistic_model
from tests.agent.detect.fakes import RecordingSink


class KeepClips:
    def __init__(self) -> None:
        self.clips: list[LocalClip] = []

    def add_clip(self, clip: LocalClip) -> None:
        self.clips.append(clip)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def recorded_indices(capture: CaptureService, camera_id: str) -> list[int]:
    indices: list[int] = []
    for segment in capture.recorder.segments(camera_id):
        with av.open(str(segment.path)) as container:
            for frame in container.decode(video=0):
                stamp = read_stamp(frame.to_ndarray(format="bgr24").astype(np.uint8))
                if stamp is not None:
                    indices.append(stamp.index)
    return indices


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=float, default=5.0, help="detection rate asked for")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        model = realistic_model(directory, 320)
        config = AgentConfig(
            device=DeviceConfig(org="bench", id="box", data_dir=directory / "data"),
            cameras=[TestPatternCameraConfig(id="field", width=1280, height=720, fps=30)],
            recording=RecordingConfig(enabled=True, segment_seconds=5),
            detect=DetectConfig(enabled=True, model=model, fps=args.fps),
        )
        capture = CaptureService(config, KeepClips())
        worker = DetectionWorker(
            config.detect, ["field"], open_detector(model, threads=1), RecordingSink()
        )
        capture.add_frame_listener("field", worker.on_frame, fps=args.fps)
        worker.start()
        capture.start()
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        time.sleep(args.seconds)
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
        detection = worker.health()[0]
        camera = capture.health()[0]
        capture.stop()
        worker.stop()

        indices = recorded_indices(capture, "field")
        distinct = sorted(set(indices))
        produced = distinct[-1] - distinct[0] + 1 if distinct else 0
        missing = produced - len(distinct)
        doubled = len(indices) - len(distinct)
        print(
            f"720p30 test pattern -> libx264, recording on, detection at {args.fps:g} fps, {wall:.0f} s"
        )
        print(
            f"frames recorded   {len(distinct)} of {produced} produced over the recorded span"
            f" = {len(distinct) / produced:.4f} (limit 1.0); missing {missing}, doubled {doubled}"
        )
        print(
            f"camera            {camera.frames_captured} captured, {camera.frames_dropped} dropped"
        )
        print(
            f"detection         {detection.fps:.2f} fps achieved of {args.fps:g} asked; "
            f"{detection.inferences} inferences, {detection.skipped_still} still, "
            f"{detection.skipped_busy} skipped busy, p50 {detection.inference_ms_p50} ms"
        )
        print(f"CPU               {cpu / wall * 100:.0f} % of one core for the whole process")
        ok = produced > 0 and missing == 0 and doubled == 0 and camera.frames_dropped == 0
        print(f"result            {'OK' if ok else 'CHECK'}")


if __name__ == "__main__":
    main()
