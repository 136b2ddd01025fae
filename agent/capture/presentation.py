"""Presentation order of packets that arrive in decode order (sources with B-frames).

A B-frame is decoded after the frame it looks ahead to, so a frame shown inside a
clip's window may arrive after one shown later. :func:`window_end` says where a
clip is cut so that it holds every frame up to its last one, once, with nothing
missing in between; the ring's followers use it to know when a clip is complete.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from agent.capture.packets import EncodedPacket

__all__ = ["MAX_REORDER_S", "window_end"]

#: No encoder holds a frame back longer than this (B-frame pyramids hold a few frames):
#: where a clip ends is decided among packets decoded at most this long before its end.
MAX_REORDER_S = 2.0


def window_end(
    packets: Sequence[EncodedPacket], end: float, *, complete_only: bool = True
) -> int | None:
    """Where, in decode order, a clip ending at ``end`` is cut (an exclusive index).

    The clip keeps the first frame presented at or after ``end`` (its last frame),
    every frame presented before it, and every packet decoded before the last of
    those (a B-frame's reference may be shown after it). The cut then moves on until
    no later packet presents before the latest frame kept, so the clip's frames follow
    each other in presentation order without a hole. Without B-frames this is the
    packet right after the first one at or after ``end``.

    None while later packets could still change the answer (``complete_only``), or
    when no frame at or after ``end`` has arrived; with ``complete_only=False`` the cut
    is made from what there is (a camera that fell silent).
    """
    n = len(packets)
    # Packets decoded well before the end cannot be its last frame nor follow it.
    lo = bisect.bisect_left(packets, end - MAX_REORDER_S, key=lambda p: p.decoded_at)
    boundary: float | None = None
    for i in range(lo, n):
        moment = packets[i].captured_at
        if moment >= end and (boundary is None or moment < boundary):
            boundary = moment
    if boundary is None:
        return None if complete_only else n
    last = max(i for i in range(lo, n) if packets[i].captured_at <= boundary)
    latest = max(packets[i].captured_at for i in range(lo, last + 1))
    later_min = [float("inf")] * (n + 1)
    for i in range(n - 1, last, -1):
        later_min[i] = min(packets[i].captured_at, later_min[i + 1])
    cut = last + 1
    while cut < n and later_min[cut] < latest:
        latest = max(latest, packets[cut].captured_at)
        cut += 1
    # Packets still to come are decoded after the newest one, so shown after it too.
    if complete_only and packets[-1].decoded_at < latest:
        return None
    return cut
