from __future__ import annotations

import threading
from fractions import Fraction

from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.ring import PACKET_OVERHEAD_BYTES, PacketRing

STREAM = StreamInfo("cam", "h264", 640, 360, 30.0, Fraction(1, 30))


def synthetic(
    count: int, *, gop: int = 30, start: float = 1000.0, size: int = 1000
) -> list[EncodedPacket]:
    return [
        EncodedPacket(
            data=bytes(size * 5 if i % gop == 0 else size),
            pts=i,
            dts=i,
            duration=1,
            is_keyframe=i % gop == 0,
            captured_at=start + i / 30,
            stream=STREAM,
        )
        for i in range(count)
    ]


def test_ring_always_holds_a_keyframe_at_or_before_the_oldest_promised_second() -> None:
    ring = PacketRing("cam", seconds=4)
    for packet in synthetic(30 * 20):
        ring.append(packet)
        newest = ring.newest_time
        oldest = ring.oldest_time
        assert newest is not None and oldest is not None
        promised = newest - 4
        if packet.captured_at - 1000.0 >= 4:
            assert oldest <= promised + 1e-9  # the promised second is covered...
        assert ring.snapshot()[0].is_keyframe  # ...from a keyframe
        assert ring.span_seconds <= 4 + 1.0 + 1e-9  # and at most one GOP more is kept


def test_ring_size_follows_encoded_bytes() -> None:
    ring = PacketRing("cam", seconds=10)
    packets = synthetic(30 * 60)
    for packet in packets:
        ring.append(packet)
    held = ring.snapshot()
    assert ring.encoded_bytes == sum(p.size for p in held)
    assert ring.memory_bytes == ring.encoded_bytes + len(held) * PACKET_OVERHEAD_BYTES
    window = [p for p in packets if p.captured_at >= packets[-1].captured_at - 10]
    assert ring.encoded_bytes <= 1.2 * sum(p.size for p in window)
    assert ring.evicted_packets == len(packets) - len(held)


def test_ring_starts_only_on_a_keyframe() -> None:
    ring = PacketRing("cam", seconds=4)
    for packet in synthetic(45)[5:]:
        ring.append(packet)
    held = ring.snapshot()
    assert held[0].is_keyframe and held[0].pts == 30


def test_follower_sees_every_packet_once_while_capture_runs() -> None:
    ring = PacketRing("cam", seconds=2)
    packets = synthetic(30 * 30)
    wakeup = threading.Event()
    followers = []
    for packet in packets[:90]:
        ring.append(packet)

    def capture() -> None:
        for packet in packets[90:]:
            ring.append(packet)

    thread = threading.Thread(target=capture)
    thread.start()
    for _ in range(50):
        followers.append(ring.follow(1001.0, 2000.0, wakeup))
    thread.join()
    for follower in followers:
        pts = [p.pts for p in follower.packets]
        assert pts == list(range(pts[0], len(packets)))  # no gap, no duplicate
        assert follower.packets[0].is_keyframe


def test_follower_end_and_extension() -> None:
    ring = PacketRing("cam", seconds=10)
    packets = synthetic(300)
    for packet in packets[:200]:
        ring.append(packet)
    wakeup = threading.Event()
    follower = ring.follow(1000.0 + 150 / 30, 1000.0 + 220 / 30, wakeup)
    assert follower.packets[0].pts == 150 and not follower.reached_end.is_set()
    ring.extend_start(follower, 1000.0 + 95 / 30)
    assert follower.packets[0].pts == 90
    for packet in packets[200:221]:
        ring.append(packet)
    assert follower.reached_end.is_set() and wakeup.is_set()
    ring.set_end(follower, 1000.0 + 260 / 30)
    assert not follower.reached_end.is_set()
    ring.unfollow(follower)
    for packet in packets[221:]:
        ring.append(packet)
    assert follower.packets[-1].pts == 220


def test_clock_set_back_restarts_the_ring_instead_of_growing_forever() -> None:
    ring = PacketRing("cam", seconds=4)
    for packet in synthetic(120):
        ring.append(packet)
    for packet in synthetic(60, start=500.0):
        ring.append(packet)
    assert ring.clock_steps == 1
    assert ring.oldest_time == 500.0
    assert ring.packet_count == 60
