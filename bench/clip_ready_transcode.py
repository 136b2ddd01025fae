"""Clip ready <= 0.5 s after the post-roll ends, for a transcoded camera (1080p30 HEVC).

The ring keeps encoded packets whatever the camera sends, so a transcoded
camera's clip is written as any other: this measures it end to end. A 1080p30
HEVC file is played in real time by the capture path (DemuxSource, transcoded
with libx264), through a CameraRunner into the ring, with the ClipWriter's
thread running; RUNS triggers (20 s pre + 10 s post, 31 s apart, so that no two
clips share a second). Per clip, two figures:

* from the H.264 packet at T + post reaching the ring to the clip reaching the
  sink (the writer's part: remux, faststart, SHA-256, thumbnail, fsync, rename),
  as bench/clip_ready.py measures for a stream-copied camera;
* from T + post itself (the source frame's presentation on the box's clock) to
  the sink: the above plus the transcoder's decode + encode latency.

Limit 0.5 s for the first; the second is printed beside it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig, FileCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.factory import make_source
from agent.interfaces.sinks import LocalClip
from agent.interfaces.triggers import ClipRequest
from bench.capture_transcode import source_video
from protocol import Trigger, TriggerSource

LIMIT_S = 0.5
PRE, POST = 20.0, 10.0
RUNS = 3


class Arrivals:
    """A packet listener: when each packet reached capture (after the transcoder)."""

    def __init__(self) -> None:
        self.times: list[tuple[float, float]] = []  # (captured_at, wall time of arrival)

    def on_packet(self, packet: EncodedPacket) -> None:
        self.times.append((packet.captured_at, time.time()))

    def arrival_at_or_after(self, moment: float) -> float | None:
        for captured_at, arrived in self.times:
            if captured_at >= moment:
                return arrived
        return None


class TimedSink:
    def __init__(self) -> None:
        self.clips: list[tuple[float, LocalClip]] = []
        self.event = threading.Event()

    def add_clip(self, clip: LocalClip) -> None:
        self.clips.append((time.time(), clip))
        self.event.set()


def main() -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    video = source_video("hevc", "hevc", "mp4", "mp4", 1920, 1080, 4000)
    camera = FileCameraConfig(id="bench", path=video.path, loop=True, realtime=True)
    config = ClipConfig(
        pre_seconds=PRE, post_seconds=POST, max_pre_seconds=30, max_post_seconds=60, ring_seconds=32
    )
    ring = PacketRing("bench", config.ring_seconds)
    arrivals = Arrivals()
    runner = CameraRunner(
        "bench", lambda: make_source(camera), ring, FrameTap("bench", 640), listeners=[arrivals]
    )
    sink = TimedSink()
    with tempfile.TemporaryDirectory(dir=Path.home() if Path.home().exists() else None) as folder:
        writer = ClipWriter(config, {"bench": ring}, ClipFileWriter(Path(folder), 320), sink)
        threads = [
            threading.Thread(target=runner.run, daemon=True),
            threading.Thread(target=writer.run, daemon=True),
        ]
        for thread in threads:
            thread.start()
        writer_part: list[float] = []
        whole: list[float] = []
        try:
            while ring.span_seconds < PRE + 1:
                time.sleep(0.2)
            for run in range(RUNS):
                sink.event.clear()
                moment = round(time.time() - 0.5, 3)
                writer.request_clip(
                    ClipRequest(
                        trigger=Trigger(
                            source=TriggerSource.MANUAL, at=datetime.fromtimestamp(moment, UTC)
                        )
                    )
                )
                if not sink.event.wait(POST + 15):
                    raise SystemExit(f"run {run}: no clip within {POST + 15:.0f} s")
                ready, clip = sink.clips[-1]
                end = moment + POST
                arrived = arrivals.arrival_at_or_after(end)
                assert arrived is not None
                writer_part.append(ready - arrived)
                whole.append(ready - end)
                print(
                    f"run {run}: {clip.duration_ms / 1000:.2f} s clip, {clip.frame_count} frames, "
                    f"{clip.size_bytes / 1e6:.1f} MB; ready {writer_part[-1] * 1000:.0f} ms after the "
                    f"end packet reached the ring, {whole[-1] * 1000:.0f} ms after T + post"
                )
                if run + 1 < RUNS:
                    time.sleep(PRE + 1)  # the next window shares nothing with this one
        finally:
            runner.stop()
            writer.stop()
            for thread in threads:
                thread.join(15)
    health = runner.health()
    median = statistics.median(writer_part)
    print(
        f"transcoded camera hevc 1920x1080 -> libx264 ({health.encode_cpu_percent} % of a core), "
        f"{health.frames_dropped} frames dropped, {health.reconnects} reconnects"
    )
    print(
        f"ready after post  median {median * 1000:.0f} ms, max {max(writer_part) * 1000:.0f} ms "
        f"(from the end packet in the ring; limit {LIMIT_S} s)"
    )
    print(
        f"with transcoding  median {statistics.median(whole) * 1000:.0f} ms, max "
        f"{max(whole) * 1000:.0f} ms (from T + post: decode + encode latency included)"
    )
    print(
        f"ratio to limit    {median / LIMIT_S:.3f} of {LIMIT_S} s  "
        f"{'OK' if max(writer_part) <= LIMIT_S else 'OVER'}"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
