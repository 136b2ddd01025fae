"""Choosing a clip's packets and laying them on one continuous MP4 timeline.

Selection (:func:`select_window`): the packets whose stream can share a track
with the stream live at the anchor time (a reconnect with different codec
parameters is left out, not mixed in), starting at the last keyframe at or
before ``start``. The end is cut in presentation order (:func:`window_end`):
every frame presented up to the first frame at or after ``end`` is in the clip,
once, also when the source has B-frames (there the packets come in decode
order, and a frame shown inside the window may arrive after one shown later).

Timing (:func:`lay_out`): inside one stream session the source's own
timestamps are kept exactly (rescaled to 90 kHz), so frame spacing is what the
camera sent; the clip's first frame presents at 0 (with B-frames its decode
time is negative; the MP4 muxer writes the edit list that says so). Between
sessions (a reconnect, a file loop) the wall-clock gap is used, so a dropout
shows as a held frame of honest length, never as time squeezed out. Decode
timestamps are kept strictly increasing, as MP4 requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.presentation import window_end

__all__ = ["OUTPUT_TIME_BASE", "TimedPacket", "lay_out", "select_window"]

OUTPUT_TIME_BASE = Fraction(1, 90_000)
_TICKS = 90_000


@dataclass(frozen=True, slots=True)
class TimedPacket:
    packet: EncodedPacket
    pts: int  # in OUTPUT_TIME_BASE; the first frame presents at 0
    dts: int
    duration: int


def _anchor_stream(packets: Sequence[EncodedPacket], anchor_time: float) -> StreamInfo:
    chosen = packets[0].stream
    for packet in packets:
        if packet.captured_at <= anchor_time:
            chosen = packet.stream
        else:
            break
    return chosen


def select_window(
    packets: Sequence[EncodedPacket], start: float, end: float, anchor_time: float
) -> list[EncodedPacket]:
    if not packets:
        return []
    anchor = _anchor_stream(packets, anchor_time)
    usable: list[EncodedPacket] = []
    current: StreamInfo | None = None
    for packet in packets:
        if not packet.stream.compatible(anchor):
            current = None
            continue
        if packet.stream is not current:
            if not packet.is_keyframe:
                continue  # a session joined mid-GOP cannot be decoded
            current = packet.stream
        usable.append(packet)
    if not usable:
        return []
    first = 0
    for index, packet in enumerate(usable):
        if packet.is_keyframe and packet.captured_at <= start:
            first = index
        elif packet.captured_at > start:
            break
    if not usable[first].is_keyframe:  # nothing at or before start: earliest keyframe
        first = next(i for i, p in enumerate(usable) if p.is_keyframe)
    key = usable[first]
    chosen = [key]
    opening = True  # until the next keyframe: drop frames shown before the start keyframe
    for packet in usable[first + 1 :]:
        if packet.is_keyframe or packet.stream is not key.stream:
            opening = False
        if opening and packet.captured_at < key.captured_at:
            continue  # an open GOP's leading frame: its reference is not in the clip
        chosen.append(packet)
    cut = window_end(chosen, end, complete_only=False)
    return chosen[:cut]


def _ticks(value: int, time_base: Fraction) -> int:
    """``round(value * time_base * 90000)`` in integers (half to even, as round() does):
    the Fraction arithmetic was a tenth of a long clip's write time (bench/range_clip.py)."""
    whole, rest = divmod(value * time_base.numerator * _TICKS, time_base.denominator)
    twice = 2 * rest
    if twice > time_base.denominator or (twice == time_base.denominator and whole % 2):
        return whole + 1
    return whole


def lay_out(packets: Sequence[EncodedPacket]) -> list[TimedPacket]:
    if not packets:
        return []
    origin = packets[0].captured_at  # the start keyframe: shown first
    out: list[TimedPacket] = []
    stream: StreamInfo | None = None
    run_first_pts = 0
    run_offset = 0
    last_dts: int | None = None
    end_of_previous = 0
    for packet in packets:
        tb = packet.stream.time_base
        if packet.stream is not stream:
            stream = packet.stream
            run_first_pts = packet.pts
            lead = max(0, _ticks(packet.pts - packet.dts, tb))  # B-frames: decoded earlier
            run_offset = max(round((packet.captured_at - origin) * _TICKS), end_of_previous)
            if last_dts is not None:
                run_offset = max(run_offset, last_dts + 1 + lead)
        pts = run_offset + _ticks(packet.pts - run_first_pts, tb)
        dts = run_offset + _ticks(packet.dts - run_first_pts, tb)
        if last_dts is not None:
            dts = max(dts, last_dts + 1)
        pts = max(pts, dts)
        if packet.duration:
            duration = _ticks(packet.duration, tb)
        else:
            duration = round(_TICKS / packet.stream.fps) if packet.stream.fps > 0 else 3000
        out.append(TimedPacket(packet, pts, dts, max(1, duration)))
        last_dts = dts
        end_of_previous = max(end_of_previous, pts + duration)
    return out
