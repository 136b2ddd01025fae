"""Trigger-to-clip boundaries, checked by decoding every clip written.

Rule: a clip starts within one keyframe interval before T - pre and ends at or
after T + post; its frame count and duration match the file. Triggers at random
frames with random pre/post over a 1080p30 stream (keyframe every second), each
clip decoded frame by frame, its burned-in frame numbers compared with the rule.
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig
from agent.capture.ring import PacketRing
from agent.interfaces.sinks import LocalClip
from agent.interfaces.triggers import ClipRequest
from bench.capture_common import looped_packets, media
from protocol import Trigger, TriggerSource
from tests.media import decode_clip

TRIALS = 8


class Sink:
    def __init__(self) -> None:
        self.clips: list[LocalClip] = []

    def add_clip(self, clip: LocalClip) -> None:
        self.clips.append(clip)


def main() -> None:
    video = media(1920, 1080, 10, 6000)
    packets = looped_packets(video, 40)
    times = [p.captured_at for p in packets]
    rng = random.Random(7)
    keyframe_interval = video.keyframe_interval / video.fps
    passed = 0
    print(
        f"{'T frame':>7} {'pre':>5} {'post':>5} {'first':>6} {'T-pre':>7} {'early s':>7} {'last':>5} {'T+post':>7} {'frames':>6} {'dur s':>6}  verdict"
    )
    with tempfile.TemporaryDirectory() as folder:
        for trial in range(TRIALS):
            pre, post = round(rng.uniform(0, 20), 2), round(rng.uniform(0, 10), 2)
            index = rng.randrange(int(pre * 30) + 40, len(packets) - int(post * 30) - 5)
            config = ClipConfig(
                pre_seconds=20,
                post_seconds=10,
                max_pre_seconds=20,
                max_post_seconds=10,
                ring_seconds=32,
            )
            ring, sink = PacketRing("bench", 32), Sink()
            writer = ClipWriter(
                config, {"bench": ring}, ClipFileWriter(Path(folder) / str(trial), 160), sink
            )
            for packet in packets[: index + 1]:
                ring.append(packet)
            moment = int(times[index] * 1000) / 1000
            writer.request_clip(
                ClipRequest(
                    trigger=Trigger(
                        source=TriggerSource.MANUAL, at=datetime.fromtimestamp(moment, UTC)
                    ),
                    pre_s=pre,
                    post_s=post,
                )
            )
            for packet in packets[index + 1 :]:
                ring.append(packet)
                if packet.captured_at >= moment + post:
                    break
            writer.process_ready()
            [clip] = sink.clips
            decoded = decode_clip(clip.path)
            # Frame numbers loop with the 10 s video: unwrap them onto the packet list.
            first = next(
                i
                for i, p in enumerate(packets)
                if abs(p.captured_at - clip.started_at.timestamp()) < 0.0015
            )
            frames = decoded.frames
            last = first + frames - 1
            early = (moment - pre) - times[first]
            contiguous = [s.index for s in decoded.stamps if s] == [
                i % video.frames for i in range(first, last + 1)
            ]
            ok = (
                0 <= early < keyframe_interval + 1e-6
                and times[last] >= moment + post - 1e-6
                and contiguous
                and clip.frame_count == frames
                and abs(clip.duration_ms / 1000 - decoded.duration_s) < 0.002
            )
            passed += ok
            print(
                f"{index:>7} {pre:>5} {post:>5} {first:>6} {moment - pre - times[0]:>7.2f} {early:>7.3f} {last:>5} "
                f"{moment + post - times[0]:>7.2f} {frames:>6} {decoded.duration_s:>6.2f}  {'OK' if ok else 'FAIL'}"
            )
    print(
        f"boundaries        {passed}/{TRIALS} clips within the rule (start <= 1 keyframe interval early, end >= T + post, every frame once)"
    )


if __name__ == "__main__":
    main()
