"""The pre-roll: one camera's last N seconds as encoded packets, in memory.

The ring evicts whole GOPs (a keyframe and the frames that depend on it), and
only while the *next* GOP still starts at or before the oldest promised second
(``newest - seconds``); so it always holds a keyframe at or before that second,
and its size is the encoded bytes of the window plus at most one GOP.

A clip that is still collecting its post-roll *follows* the ring
(:meth:`PacketRing.follow`): it gets the packets from its start keyframe at
once, and every later packet as it is appended, under the same lock, so none
is missed or doubled however the capture and trigger threads interleave.

Locking: ``append`` runs on the capture thread; ``follow``/``extend_start``/
``unfollow``/``snapshot`` on trigger and writer threads. One lock guards the
deque and the followers; nothing slow happens under it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque

from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.presentation import MAX_REORDER_S, window_end

__all__ = ["PACKET_OVERHEAD_BYTES", "PacketRing", "RingFollower"]

log = logging.getLogger(__name__)

#: Python's cost per packet besides its payload (object, bytes header, deque slot):
#: the "small fixed overhead" of the ring's memory accounting, checked in bench/.
PACKET_OVERHEAD_BYTES = 120 + sys.getsizeof(b"") + 8

#: A capture time this far behind the newest one means the box's clock was set back.
_CLOCK_STEP_BACK_S = 2.0


class RingFollower:
    """The packets of one clip: a snapshot from its start keyframe plus everything after.

    ``reached_end`` is set once the packets hold the clip's whole window, in
    presentation order (:func:`agent.capture.presentation.window_end`): with
    B-frames that is a packet or two after the first frame at or after the end.
    """

    def __init__(
        self, packets: list[EncodedPacket], end_time: float, wakeup: threading.Event
    ) -> None:
        self.packets = packets
        self.end_time = end_time
        self.reached_end = threading.Event()
        self._wakeup = wakeup
        self._check_end()

    def _check_end(self) -> None:
        """Called under the ring's lock whenever the packets or the end change."""
        if self.reached_end.is_set() or not self.packets:
            return
        if self.packets[-1].decoded_at < self.end_time - MAX_REORDER_S:
            return  # cheap: the end is still far ahead
        if window_end(self.packets, self.end_time) is not None:
            self.reached_end.set()
            self._wakeup.set()

    def _add(self, packet: EncodedPacket) -> None:
        self.packets.append(packet)
        self._check_end()


class PacketRing:
    def __init__(self, camera_id: str, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"camera {camera_id}: ring must hold a positive number of seconds")
        self.camera_id = camera_id
        self.seconds = seconds
        self._packets: deque[EncodedPacket] = deque()
        self._key_offsets: deque[int] = deque()  # absolute positions of keyframes
        self._base = 0  # absolute position of _packets[0]
        self._bytes = 0
        self._newest = float("-inf")
        self._followers: list[RingFollower] = []
        self._lock = threading.Lock()
        self.evicted_packets = 0
        self.clock_steps = 0

    # -- capture thread -------------------------------------------------------------------

    def append(self, packet: EncodedPacket) -> None:
        with self._lock:
            if packet.captured_at < self._newest - _CLOCK_STEP_BACK_S:
                self.clock_steps += 1
                log.warning(
                    "camera %s: capture time went back %.1f s (clock set back?); "
                    "pre-roll restarts from here",
                    self.camera_id,
                    self._newest - packet.captured_at,
                )
                self._clear()
            if not self._packets and not packet.is_keyframe:
                return  # a ring always starts on a keyframe
            if packet.is_keyframe:
                self._key_offsets.append(self._base + len(self._packets))
            self._packets.append(packet)
            self._bytes += packet.size
            self._newest = max(self._newest, packet.captured_at)
            for follower in self._followers:
                follower._add(packet)
            self._evict()

    def _evict(self) -> None:
        cutoff = self._newest - self.seconds
        while len(self._key_offsets) >= 2:
            second = self._key_offsets[1] - self._base
            if self._packets[second].captured_at > cutoff:
                break
            for _ in range(second):
                self._bytes -= self._packets.popleft().size
            self.evicted_packets += second
            self._base += second
            self._key_offsets.popleft()

    def _clear(self) -> None:
        self._base += len(self._packets)
        self._packets.clear()
        self._key_offsets.clear()
        self._bytes = 0
        self._newest = float("-inf")

    # -- readers ------------------------------------------------------------------------

    def _start_index(self, start_time: float) -> int:
        """Index of the last keyframe at or before ``start_time`` (else the oldest keyframe)."""
        chosen = self._key_offsets[0] if self._key_offsets else self._base
        for offset in self._key_offsets:
            if self._packets[offset - self._base].captured_at <= start_time:
                chosen = offset
            else:
                break
        return chosen - self._base

    def follow(self, start_time: float, end_time: float, wakeup: threading.Event) -> RingFollower:
        with self._lock:
            begin = self._start_index(start_time) if self._packets else 0
            snapshot = [self._packets[i] for i in range(begin, len(self._packets))]
            follower = RingFollower(snapshot, end_time, wakeup)
            self._followers.append(follower)
            return follower

    def extend_start(self, follower: RingFollower, start_time: float) -> None:
        """Prepend the packets from the keyframe at or before ``start_time`` (if still held)."""
        with self._lock:
            if not follower.packets or not self._packets:
                return
            first = follower.packets[0]
            if first.captured_at <= start_time:
                return
            begin = self._start_index(start_time)
            earlier: list[EncodedPacket] = []
            for i in range(begin, len(self._packets)):
                packet = self._packets[i]
                if packet is first:
                    follower.packets[:0] = earlier
                    return
                earlier.append(packet)

    def set_end(self, follower: RingFollower, end_time: float) -> None:
        with self._lock:
            follower.end_time = end_time
            follower.reached_end.clear()
            follower._check_end()

    def unfollow(self, follower: RingFollower) -> None:
        with self._lock:
            if follower in self._followers:
                self._followers.remove(follower)

    def snapshot(
        self, start_time: float | None = None, end_time: float | None = None
    ) -> list[EncodedPacket]:
        """Packets from the keyframe at or before ``start_time`` through ``end_time``."""
        with self._lock:
            if not self._packets:
                return []
            begin = self._start_index(start_time) if start_time is not None else 0
            out = []
            for i in range(begin, len(self._packets)):
                packet = self._packets[i]
                out.append(packet)
                if end_time is not None and packet.captured_at >= end_time:
                    break
            return out

    def first_time_at_or_after(self, moment: float) -> float | None:
        """Capture time of the first held frame at or after ``moment`` (None: not yet arrived)."""
        found = None
        with self._lock:
            for packet in reversed(self._packets):
                if packet.captured_at < moment:
                    break
                found = packet.captured_at
        return found

    # -- accounting ---------------------------------------------------------------------

    @property
    def packet_count(self) -> int:
        return len(self._packets)

    @property
    def encoded_bytes(self) -> int:
        return self._bytes

    @property
    def memory_bytes(self) -> int:
        """Payload plus the fixed per-packet overhead: what the ring costs in RAM."""
        return self._bytes + len(self._packets) * PACKET_OVERHEAD_BYTES

    @property
    def oldest_time(self) -> float | None:
        with self._lock:
            return self._packets[0].captured_at if self._packets else None

    @property
    def newest_time(self) -> float | None:
        with self._lock:
            return self._newest if self._packets else None

    @property
    def newest_stream(self) -> StreamInfo | None:
        """The stream of the newest packet (its size is what a clip of now will have)."""
        with self._lock:
            return self._packets[-1].stream if self._packets else None

    @property
    def span_seconds(self) -> float:
        with self._lock:
            if not self._packets:
                return 0.0
            return self._newest - self._packets[0].captured_at
