"""Where a clip ends when packets come in decode order: property tests over B-frame layouts."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.presentation import window_end

STREAM = StreamInfo("cam", "h264", 64, 64, 30.0, Fraction(1, 30))
START = 1000.0


def decode_order(minigops: list[tuple[int, bool]]) -> list[int]:
    """Presentation indices in decode order: a keyframe, then per mini-GOP its reference
    frame followed by its B-frames (middle first when ``pyramid``, as x264's b-pyramid)."""
    order = [0]
    shown = 1
    for bframes, pyramid in minigops:
        reference = shown + bframes
        order.append(reference)
        between = list(range(shown, reference))
        if pyramid and len(between) >= 3:
            middle = between[len(between) // 2]
            order += [middle, *(i for i in between if i != middle)]
        else:
            order += between
        shown = reference + 1
    return order


def packets_for(order: list[int]) -> list[EncodedPacket]:
    lead = max((position - shown for position, shown in enumerate(order)), default=0)
    return [
        EncodedPacket(
            data=b"",
            pts=shown,
            dts=position - lead,
            duration=1,
            is_keyframe=shown == 0,
            captured_at=START + shown / 30,
            stream=STREAM,
        )
        for position, shown in enumerate(order)
    ]


#: Mini-GOPs (B-frames before each reference frame, b-pyramid or not), then a few plain
#: frames: the stream goes on after the window, as a camera's does.
layouts = st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=25).map(
    lambda minigops: [*minigops, (0, False), (0, False), (0, False), (0, False)]
)


@settings(max_examples=300, deadline=None)
@given(layouts, st.floats(0, 1.0))
def test_the_cut_keeps_every_frame_up_to_the_last_once_and_nothing_missing(
    minigops: list[tuple[int, bool]], fraction: float
) -> None:
    order = decode_order(minigops)
    packets = packets_for(order)
    frames = len(order)
    end = START + fraction * (frames - 5) / 30
    cut = window_end(packets, end)
    assert cut is not None
    kept = sorted(p.pts for p in packets[:cut])
    last_needed = min(i for i in range(frames) if START + i / 30 >= end - 1e-12)
    # Every frame up to the first one at or after the end, once, and no hole after it.
    assert kept == list(range(len(kept)))
    assert kept[-1] >= last_needed
    # It stops as early as it can: one packet less would leave a frame out or a hole.
    shorter = sorted(p.pts for p in packets[: cut - 1])
    assert not shorter or shorter[-1] < last_needed or shorter != list(range(len(shorter)))


@settings(max_examples=200, deadline=None)
@given(layouts, st.floats(0, 1.0))
def test_arriving_packets_complete_the_window_exactly_once_and_never_too_early(
    minigops: list[tuple[int, bool]], fraction: float
) -> None:
    packets = packets_for(decode_order(minigops))
    end = START + fraction * (len(packets) - 5) / 30
    final = window_end(packets, end)
    assert final is not None
    answers = [window_end(packets[: n + 1], end) for n in range(len(packets))]
    decided = next(n for n, answer in enumerate(answers) if answer is not None)
    # Once the arrived packets decide the cut, it is the cut the whole stream gives.
    assert answers[decided] == final and all(a == final for a in answers[decided:])
    assert decided < len(packets)


def test_without_b_frames_the_cut_is_the_first_frame_at_or_after_the_end() -> None:
    packets = packets_for(list(range(40)))
    assert window_end(packets, START + 10.5 / 30) == 12  # frames 0..11
    assert window_end(packets, START + 11 / 30) == 12
    assert window_end(packets[:11], START + 11 / 30) is None  # frame 11 not here yet
    assert window_end(packets[:11], START + 11 / 30, complete_only=False) == 11


def test_a_b_frame_shown_before_the_end_but_sent_after_its_reference_is_kept() -> None:
    # Shown 0 1 2 3 4 5 6; sent 0 3 1 2 6 4 5.
    packets = packets_for(decode_order([(2, False), (2, False)]))
    assert [p.pts for p in packets] == [0, 3, 1, 2, 6, 4, 5]
    cut = window_end(packets, START + 2 / 30)
    assert cut == 4 and sorted(p.pts for p in packets[:cut]) == [0, 1, 2, 3]
    # Cutting in decode order at the first packet at or after the end loses frames 1, 2.
    naive = next(i for i, p in enumerate(packets) if p.captured_at >= START + 2 / 30) + 1
    assert sorted(p.pts for p in packets[:naive]) == [0, 3]
    # Until frame 2 has arrived the window is not complete.
    assert window_end(packets[:3], START + 2 / 30) is None
