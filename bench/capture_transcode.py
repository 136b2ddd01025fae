"""Transcoding cameras in real time: 1080p30 HEVC and 720p30 MJPEG sources to H.264 with libx264.

Limit: real time, i.e. frames recorded / frames the source produced = 1.0 with
nothing dropped. Each source is a generated file (textured, at a real camera's
bitrate) played by the capture path itself (DemuxSource paced to real time,
looped, transcoded by Transcoder with the camera defaults: veryfast,
zerolatency, a keyframe a second, the default bitrate) for SECONDS on this
machine, through a CameraRunner into a ring. Printed per camera: frames
recorded / produced, dropped, the process's CPU over the run (one camera at a
time), the camera's own figure (CodecCpu: its codec threads only), and beside
them the bare speeds of the same frames: FFmpeg's decoder alone, and libx264
alone with the same settings on frames decoded beforehand.

    .venv/bin/python bench/capture_transcode.py [seconds]
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

from agent.capture.config import FileCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.encoder import (
    EncoderSettings,
    default_bitrate_kbps,
    open_context,
)
from agent.capture.sources.factory import make_source
from bench.capture_common import CACHE
from tests.media import TestVideo, write_test_video

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
BARE_FRAMES = 150

SOURCES = [
    # name, encoder writing the source, container, suffix, width, height, kbit/s
    ("hevc", "hevc", "mp4", "mp4", 1920, 1080, 4000),
    ("mjpeg", "mjpeg", "avi", "avi", 1280, 720, 20000),
]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def source_video(
    name: str, encoder: str, container: str, suffix: str, width: int, height: int, kbps: int
) -> TestVideo:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"transcode-{name}-{width}x{height}-10s-{kbps}k.{suffix}"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        temp = path.with_name(f"tmp-{path.name}")
        write_test_video(
            temp,
            width=width,
            height=height,
            seconds=10,
            bitrate_kbps=kbps,
            keyframe_interval=30,
            codec=encoder,
            container=container,
            texture=True,
        )
        temp.rename(path)
    return TestVideo(path, width, height, 30, 300, 30, 1_767_261_600.0)


def bare_speeds(video: TestVideo) -> tuple[float, float]:
    """(decode fps, libx264 encode fps) over the same BARE_FRAMES frames."""
    frames: list[av.VideoFrame] = []
    with av.open(str(video.path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        began = time.perf_counter()
        for frame in container.decode(stream):
            frames.append(frame)
            if len(frames) == BARE_FRAMES:
                break
        decode_fps = len(frames) / (time.perf_counter() - began)
    settings = EncoderSettings(
        width=video.width,
        height=video.height,
        fps=30,
        keyframe_interval_s=1,
        bitrate_kbps=default_bitrate_kbps(video.width, video.height, 30),
    )
    context = open_context("libx264", settings)
    ready = [f.reformat(format="yuv420p") for f in frames]  # the conversion is not encoding
    began = time.perf_counter()
    for index, frame in enumerate(ready):
        frame.pts = index * 3000
        frame.time_base = Fraction(1, 90_000)
        frame.pict_type = av.video.frame.PictureType.NONE
        context.encode(frame)
    context.encode(None)
    encode_fps = len(ready) / (time.perf_counter() - began)
    return decode_fps, encode_fps


def run_camera(video: TestVideo, name: str) -> dict[str, float]:
    camera = FileCameraConfig(id=name, path=video.path, loop=True, realtime=True)
    runner = CameraRunner(
        name, lambda: make_source(camera), PacketRing(name, 32), FrameTap(name, 640)
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    while runner.frames_captured < 60:  # past the start (open, first keyframe)
        time.sleep(0.02)
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
    health = runner.health()
    runner.stop()
    thread.join(10)
    return {
        "recorded": frames,
        "produced": wall * 30,
        "dropped": runner.frames_dropped - dropped0,
        "process_cpu": cpu / wall * 100,
        "camera_cpu": health.encode_cpu_percent or float("nan"),
        "reconnects": health.reconnects,
    }


def main() -> None:
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores"
    )
    for name, encoder, container, suffix, width, height, kbps in SOURCES:
        video = source_video(name, encoder, container, suffix, width, height, kbps)
        bare_decode, bare_encode = bare_speeds(video)
        result = run_camera(video, name)
        ratio = result["recorded"] / result["produced"]
        ok = ratio >= 0.995 and result["dropped"] == 0 and result["reconnects"] == 0
        print(
            f"{name} {width}x{height}p30 -> H.264 (libx264 veryfast zerolatency), {SECONDS:.0f} s real time"
        )
        print(
            f"  recorded/produced {result['recorded']:.0f}/{result['produced']:.0f} = {ratio:.3f} "
            f"(limit 1.0: ratio to limit {ratio:.3f}); dropped {result['dropped']:.0f}, "
            f"reconnects {result['reconnects']:.0f}"
        )
        print(
            f"  CPU               {result['process_cpu']:.0f} % of one core (whole process), "
            f"{result['camera_cpu']:.0f} % (the camera's codec threads, as its heartbeat says)"
        )
        print(
            f"  bare speeds       decode {bare_decode:.0f} fps, libx264 {bare_encode:.0f} fps on the "
            f"same frames: at 30 fps that is {30 / bare_decode * 100:.0f} % + "
            f"{30 / bare_encode * 100:.0f} % of the wall clock"
        )
        print(f"  result            {'OK' if ok else 'CHECK'}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
