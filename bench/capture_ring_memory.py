"""Ring memory against the encoded bytes of its window (limit: <= 1.2 x + a small fixed overhead).

A 1080p30 stream at a camera's bitrate is pushed through a 30 s PacketRing for 60 s;
tracemalloc measures what the ring really holds. Printed beside it: what the same
window would take as raw frames (yuv420p), which is what the ring avoids.
"""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the checkout first

from agent.capture.ring import PACKET_OVERHEAD_BYTES, PacketRing
from bench.capture_common import looped_packets, mbps, media

RING_SECONDS = 30.0
FIXED_OVERHEAD_BYTES = 256 * 1024  # "small fixed overhead": deque blocks, followers, ...


def main() -> None:
    video = media(1920, 1080, 10, 6000)
    packets = looped_packets(video, 60)
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    ring = PacketRing("bench", RING_SECONDS)
    # Fresh copies of the payloads: the ring must hold its own bytes, as it does at run time.
    for packet in packets:
        ring.append(
            type(packet)(
                bytes(memoryview(packet.data)),
                packet.pts,
                packet.dts,
                packet.duration,
                packet.is_keyframe,
                packet.captured_at,
                packet.stream,
            )
        )
    held = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    newest = packets[-1].captured_at
    window = [p for p in packets if p.captured_at > newest - RING_SECONDS]
    window_bytes = sum(p.size for p in window)
    raw_bytes = len(window) * 1920 * 1080 * 3 // 2
    limit = 1.2 * window_bytes + FIXED_OVERHEAD_BYTES
    print(
        f"stream            1920x1080 @ 30 fps, {mbps(packets):.1f} Mbit/s, keyframe every {video.keyframe_interval} frames"
    )
    print(
        f"window            {RING_SECONDS:.0f} s = {len(window)} frames, encoded {window_bytes / 1e6:.2f} MB"
    )
    print(
        f"ring holds        {ring.packet_count} packets, {ring.span_seconds:.2f} s, payload {ring.encoded_bytes / 1e6:.2f} MB"
    )
    print(
        f"ring memory       {held / 1e6:.2f} MB measured (tracemalloc); accounted {ring.memory_bytes / 1e6:.2f} MB "
        f"({PACKET_OVERHEAD_BYTES} B per packet)"
    )
    print(
        f"raw frames        {raw_bytes / 1e9:.2f} GB for the same window (yuv420p): {raw_bytes / held:.0f}x more"
    )
    print(
        f"limit             1.2 x encoded + {FIXED_OVERHEAD_BYTES // 1024} KiB = {limit / 1e6:.2f} MB"
    )
    print(
        f"ratio             memory / encoded window = {held / window_bytes:.3f}  (limit 1.2 + overhead)"
    )
    print(f"ratio to limit    {held / limit:.3f}  {'OK' if held <= limit else 'OVER'}")


if __name__ == "__main__":
    main()
