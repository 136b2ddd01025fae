"""A 60 s range clip cut from segments 10 minutes back: ready on the box <= 1 s after the
command arrives, stream copy only; the bare remux of the same range beside it.

Twelve minutes of a 1280x720 30 fps, 4 Mbit/s camera (a textured test pattern, a
keyframe a second) are recorded by the box's own SegmentRecorder into its default
10 s MPEG-TS segments, timed as if filmed over the last twelve minutes. Then, five
times: a ``clip_range`` Command for 60 s starting 10 minutes before the newest frame
is decoded and handed to the capture part the daemon wires (``CapturePart.clip_range``,
as the command processor does); measured until the finished clip (MP4 with faststart,
SHA-256, thumbnail, fsync, atomic rename) reaches the clip sink. Bare remux: the same
range read from the same segment files with PyAV and muxed into an MP4 (stream copy,
faststart), nothing else.

    .venv/bin/python bench/range_clip.py
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

import av

from agent.capture.sources.demux import DemuxSource
from agent.components import RangeClipRequest
from agent.config import AgentConfig
from agent.interfaces.sinks import LocalClip
from agent.wiring.capture import CapturePart
from bench.capture_common import media
from protocol import ClipRange, Command, Trigger, TriggerSource, decode_as, encode, new_id, utc_now

LIMIT_S = 1.0
RECORDED_S = 12 * 60.0
BACK_S, LENGTH_S = 600.0, 60.0
RUNS = 5


class TimedSink:
    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.at = 0.0
        self.clips: list[LocalClip] = []

    def add_clip(self, clip: LocalClip) -> None:
        self.at = time.perf_counter()
        self.clips.append(clip)
        self.arrived.set()


def record(part: CapturePart, seconds: float) -> float:
    """Feed ``seconds`` of looped video to the recorder, ending now; the newest frame's time."""
    video = media(1280, 720, 20.0, 4000)
    recorder = part.service.recorder
    source = DemuxSource("main", "file", video.path, loop=True)
    source.open()
    first: float | None = None
    shift = 0.0
    newest = 0.0
    try:
        for packet in source.packets():
            if first is None:
                first = packet.captured_at
                shift = (time.time() - seconds) - first
            moment = packet.captured_at + shift
            if moment - (first + shift) > seconds:
                break
            while recorder._queue.qsize() > 2000:  # the bench feeds faster than a camera
                time.sleep(0.005)
            recorder.on_packet(dataclasses.replace(packet, captured_at=moment))
            newest = moment
    finally:
        source.close()
    return newest


def bare_remux(part: CapturePart, start: float, end: float, out: Path) -> float:
    """The same range from the same segment files with plain PyAV: demux each segment,
    mux the packets from the keyframe at or before ``start`` through ``end`` into an MP4
    (stream copy, faststart). No selection rules, hashing, thumbnail or fsync."""
    began = time.perf_counter()
    segments = [
        s for s in part.service.recorder.segments("main") if s.end >= start and s.start <= end
    ]
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as output:
        target = None
        origin: int | None = None
        waiting: list[av.Packet] = []  # from the last keyframe before start, until start
        started = False

        last_dts = -1

        def put(packet: av.Packet, base: int) -> None:
            nonlocal origin, last_dts
            pts = packet.pts
            assert pts is not None  # packets without one were skipped
            dts = packet.dts if packet.dts is not None else pts
            if origin is None:
                origin = dts + base
            # Segment names are to the millisecond: keep the joins strictly increasing.
            dts = max(dts + base - origin, last_dts + 1)
            packet.pts, packet.dts = max(pts + base - origin, dts), dts
            last_dts = dts
            packet.stream = target
            output.mux(packet)

        for segment in segments:
            with av.open(str(segment.path)) as source:
                video = source.streams.video[0]
                if target is None:
                    target = output.add_mux_stream(
                        "h264",
                        width=video.codec_context.width,
                        height=video.codec_context.height,
                        time_base=video.time_base,
                    )
                tb = video.time_base
                assert tb is not None
                base = round(segment.start / tb)  # the segment's place on the wall clock
                for packet in source.demux(video):
                    if packet.pts is None or packet.size == 0:
                        continue
                    moment = float((packet.pts + base) * tb)
                    if moment > end + 0.05:
                        break
                    if not started:
                        if packet.is_keyframe and moment <= start:
                            waiting = [packet]
                        elif waiting:
                            waiting.append(packet)
                        if moment >= start and waiting:
                            started = True
                            for held in waiting:
                                put(held, base)
                        continue
                    put(packet, base)
    return time.perf_counter() - began


def main() -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="sideline-range-bench-") as temp:
        work = Path(temp)
        config = AgentConfig(
            device={"org": "bench", "id": "box", "data_dir": work},
            cameras=[{"id": "main", "kind": "test", "width": 1280, "height": 720}],
            recording={"enabled": True, "quota_bytes": 4 * 1024**3},
        )
        sink = TimedSink()
        part = CapturePart(config, sink, active_session=lambda: None)
        service = part.service
        threads = [
            threading.Thread(target=service.clip_writer.run, daemon=True),
            threading.Thread(target=service.recorder.run, daemon=True),
        ]
        for thread in threads:
            thread.start()
        began = time.perf_counter()
        newest = record(part, RECORDED_S)
        deadline = time.monotonic() + 60
        while service.recorder._queue.qsize() and time.monotonic() < deadline:
            time.sleep(0.05)
        segments = service.recorder.segments("main")
        print(
            f"recorded {RECORDED_S / 60:.0f} min in {len(segments)} segments "
            f"({service.recorder.total_bytes / 1e6:.0f} MB, dropped "
            f"{service.recorder.packets_dropped}) in {time.perf_counter() - began:.0f} s"
        )
        ready, bare, frames = [], [], []
        for run in range(RUNS):
            start = newest - BACK_S - run * 7.3  # a different keyframe phase each time
            end = start + LENGTH_S
            payload = encode(
                Command(
                    org="bench",
                    device_id="box",
                    command_id=new_id(),
                    issued_at=utc_now(),
                    expires_at=utc_now() + timedelta(minutes=1),
                    command=ClipRange(
                        start=datetime.fromtimestamp(start, UTC),
                        end=datetime.fromtimestamp(end, UTC),
                    ),
                )
            )
            sink.arrived.clear()
            arrived = time.perf_counter()  # the command's payload has just come in
            command = decode_as(Command, payload)
            body = command.command
            assert isinstance(body, ClipRange)
            part.clip_range(
                RangeClipRequest(
                    trigger=Trigger(
                        source=TriggerSource.CLOUD, at=body.start, command_id=command.command_id
                    ),
                    start=body.start,
                    end=body.end,
                )
            )
            assert sink.arrived.wait(30), "no clip"
            ready.append(sink.at - arrived)
            clip = sink.clips[-1]
            frames.append(clip.frame_count)
            bare.append(bare_remux(part, start, end, work / f"bare-{run}.mp4"))
        service.recorder.stop()
        service.clip_writer.stop()
        for thread in threads:
            thread.join(30)
    median, bare_median = statistics.median(ready), statistics.median(bare)
    print(
        f"60 s range 10 min back, {RUNS} runs: command in -> clip ready on the box median "
        f"{median * 1000:.0f} ms (max {max(ready) * 1000:.0f} ms), {statistics.median(frames):.0f} "
        f"frames (stream copy); limit {LIMIT_S:g} s, ratio {median / LIMIT_S:.2f}"
    )
    print(
        f"bare remux of the same range (demux segments + mux MP4): median "
        f"{bare_median * 1000:.0f} ms; the whole path is {median / bare_median:.2f}x the bare remux "
        f"({LENGTH_S / median:.0f}x real time)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
