"""The clip writer against real packets: boundaries read back frame by frame from the file."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any
from uuid import uuid4

import av
import cv2
import numpy as np
import pytest

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.capture.sources.pattern import read_stamp
from agent.interfaces.triggers import ClipRequest, TriggerRejected
from protocol import TriggerSource
from tests.agent.capture.conftest import ListSink, feed, read_packets, trigger_at
from tests.media import TestVideo, decode_clip, moov_before_mdat

CONFIG = ClipConfig(
    pre_seconds=2, post_seconds=1, max_pre_seconds=3, max_post_seconds=3, ring_seconds=4
)


def make_writer(
    tmp_path: Path, sink: ListSink, config: ClipConfig = CONFIG, **kwargs: Any
) -> tuple[ClipWriter, PacketRing]:
    ring = PacketRing("cam", config.ring_seconds)
    writer = ClipWriter(
        config, {"cam": ring}, ClipFileWriter(tmp_path / "clips", 160), sink, **kwargs
    )
    return writer, ring


def expected_range(
    packets: list[EncodedPacket], moment: float, pre: float, post: float
) -> tuple[int, int]:
    """Indices (burned-in frame numbers) a correct clip must start and end at."""
    keys = [i for i, p in enumerate(packets) if p.is_keyframe and p.captured_at <= moment - pre]
    last = next(i for i, p in enumerate(packets) if p.captured_at >= moment + post)
    return keys[-1], last


def ms(value: float) -> float:
    """Trigger times travel in whole milliseconds."""
    return int(value * 1000) / 1000


@pytest.mark.parametrize(
    ("frame", "pre", "post"),
    [(120, 2.0, 1.0), (131, 1.5, 0.5), (149, 3.0, 3.0), (100, 0.0, 0.0), (175, 0.7, 1.5)],
)
def test_clip_boundaries_are_frame_exact(
    tmp_path: Path, packets: list[EncodedPacket], frame: int, pre: float, post: float
) -> None:
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink)
    feed(ring, packets[: frame + 1])
    moment = ms(packets[frame].captured_at)
    [clip_id] = writer.request_clip(
        ClipRequest(trigger=trigger_at(moment), camera_id="cam", pre_s=pre, post_s=post)
    )
    feed(ring, packets[frame + 1 :])
    assert writer.process_ready() == 1
    [clip] = sink.clips
    first, last = expected_range(packets, ms(moment), pre, post)
    decoded = decode_clip(clip.path)
    assert decoded.indices == list(range(first, last + 1))  # every frame, nothing else
    # within one keyframe interval (1 s) before T - pre
    assert first % 30 == 0 and 0 <= (moment - pre) - packets[first].captured_at < 1.0
    assert clip.id == clip_id and clip.frame_count == decoded.frames
    assert abs(clip.duration_ms / 1000 - decoded.duration_s) < 0.002
    assert abs(decoded.duration_s - (last - first + 1) / 30) < 0.002
    assert (
        clip.started_at.timestamp() <= moment - pre
        and clip.ended_at.timestamp() >= ms(moment + post) - 0.001
    )
    assert decoded.codec == "h264" and decoded.pix_fmt == "yuv420p" and decoded.keyframe_first


@pytest.mark.parametrize(
    ("frame", "pre", "post"),
    [(60, 1.0, 0.0), (61, 1.0, 0.5), (75, 2.0, 1.0), (88, 0.4, 0.9), (100, 0.0, 1.3)],
)
def test_b_frame_clips_hold_every_frame_of_the_window_once(
    tmp_path: Path, bframe_video: TestVideo, frame: int, pre: float, post: float
) -> None:
    """Packets come in decode order (a B-frame after the frame it looks ahead to): the clip
    still holds every frame shown in the window, once, and starts presenting at 0."""
    packets = read_packets(bframe_video)
    assert any(p.pts != p.dts for p in packets)  # really reordered
    shown = sorted(packets, key=lambda p: p.pts)  # presentation order: shown[i] is frame i
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink)
    moment = ms(shown[frame].captured_at)
    arrived = 0
    while arrived < len(packets) and packets[arrived].decoded_at <= moment:
        ring.append(packets[arrived])
        arrived += 1
    writer.request_clip(ClipRequest(trigger=trigger_at(moment), pre_s=pre, post_s=post))
    for packet in packets[arrived:]:
        ring.append(packet)
        if writer._pending and writer._pending[0].follower.reached_end.is_set():
            break
    assert writer.process_ready() == 1
    [clip] = sink.clips
    decoded = decode_clip(clip.path)
    first, last_needed = expected_range(shown, moment, pre, post)
    indices = decoded.indices
    assert indices == list(range(first, indices[-1] + 1))  # contiguous, each frame once
    assert last_needed <= indices[-1] <= last_needed + 3  # at most the B-frames' reference
    assert decoded.first_time_s == 0.0 and decoded.keyframe_first
    assert clip.frame_count == decoded.frames
    assert abs(clip.ended_at.timestamp() - shown[indices[-1]].captured_at) < 0.002


def test_clip_file_is_faststart_hashed_and_has_a_thumbnail(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink)
    feed(ring, packets[:121])
    writer.request_clip(
        ClipRequest(trigger=trigger_at(packets[120].captured_at, note="great pass"))
    )
    feed(ring, packets[121:])
    writer.process_ready()
    [clip] = sink.clips
    data = clip.path.read_bytes()
    assert moov_before_mdat(clip.path)
    assert clip.sha256 == hashlib.sha256(data).hexdigest() and clip.size_bytes == len(data)
    assert (clip.width, clip.height) == (640, 360)
    assert clip.session_id is None and clip.triggers[0].note == "great pass"
    assert clip.thumbnail_path is not None
    thumbnail = cv2.imdecode(
        np.frombuffer(clip.thumbnail_path.read_bytes(), np.uint8), cv2.IMREAD_COLOR
    )
    assert thumbnail is not None and thumbnail.shape[1] == 160
    stamp = read_stamp(thumbnail.astype(np.uint8))
    assert stamp is not None and stamp.index == 120  # the keyframe at the trigger
    leftovers = sorted(p.name for p in clip.path.parent.iterdir())
    assert leftovers == sorted(
        [clip.path.name, clip.thumbnail_path.name]
    )  # no manifest, no partial
    with av.open(str(clip.path)) as container:
        assert container.streams.video[0].codec_context.extradata  # avcC built from the keyframe


def test_overlapping_triggers_merge_into_one_clip(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink)
    feed(ring, packets[:121])
    a = writer.request_clip(
        ClipRequest(
            trigger=trigger_at(ms(packets[120].captured_at), by="coach-a"), pre_s=1, post_s=1
        )
    )
    feed(ring, packets[121:136])
    b = writer.request_clip(
        ClipRequest(
            trigger=trigger_at(ms(packets[135].captured_at), TriggerSource.LAN, by="coach-b"),
            pre_s=2,
            post_s=1,
        )
    )
    assert a == b  # the second trigger joined the first clip
    feed(ring, packets[136:])
    writer.process_ready()
    [clip] = sink.clips
    assert [t.by for t in clip.triggers] == ["coach-a", "coach-b"]
    indices = decode_clip(clip.path).indices
    first_a, _ = expected_range(packets, ms(packets[120].captured_at), 1, 1)
    first_b, last_b = expected_range(packets, ms(packets[135].captured_at), 2, 1)
    assert indices == list(range(min(first_a, first_b), last_b + 1))  # the union, once
    assert writer.stats.merged == 1


def test_merged_clip_is_capped_and_the_rest_starts_where_it_ends(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    config = ClipConfig(
        pre_seconds=1, post_seconds=1, max_pre_seconds=1, max_post_seconds=1, ring_seconds=4
    )
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink, config)
    feed(ring, packets[:91])
    [a] = writer.request_clip(ClipRequest(trigger=trigger_at(ms(packets[90].captured_at))))
    feed(ring, packets[91:136])
    [b] = writer.request_clip(ClipRequest(trigger=trigger_at(ms(packets[135].captured_at))))
    assert a != b  # the union (3 s) would exceed max_pre + max_post (2 s)
    feed(ring, packets[136:])
    writer.process_ready()
    first, second = (
        decode_clip(c.path).indices for c in sorted(sink.clips, key=lambda c: c.started_at)
    )
    assert (first[0], first[-1]) == expected_range(packets, ms(packets[90].captured_at), 1, 1)
    _, second_end = expected_range(packets, ms(packets[135].captured_at), 1, 1)
    # The second starts on the keyframe at or before the first's last frame, not at 135 - 30.
    assert second[0] == 120 and second[-1] == second_end
    assert set(first) & set(second) == {120}


def test_trigger_after_a_finished_clip_shares_at_most_one_keyframe_interval(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink)
    feed(ring, packets[:101])
    writer.request_clip(
        ClipRequest(trigger=trigger_at(ms(packets[100].captured_at)), pre_s=1, post_s=1)
    )
    feed(ring, packets[101:131])
    writer.process_ready()
    writer.request_clip(
        ClipRequest(trigger=trigger_at(ms(packets[140].captured_at)), pre_s=2, post_s=1)
    )
    feed(ring, packets[131:])
    writer.process_ready()
    first, second = (decode_clip(c.path).indices for c in sink.clips)
    assert first[-1] == 130
    assert second[0] == 120 and second[-1] == 170  # would have started at 80 without the rule
    assert set(first) & set(second) == {120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130}


@pytest.mark.parametrize(
    ("pre", "post", "message"),
    [
        (-1.0, 1.0, "camera cam: pre-roll -1 s is outside 0..3 s"),
        (1.0, -0.5, "camera cam: post-roll -0.5 s is outside 0..3 s"),
        (4.0, 1.0, "camera cam: pre-roll 4 s is outside 0..3 s"),
        (1.0, 99.0, "camera cam: post-roll 99 s is outside 0..3 s"),
        (float("nan"), 1.0, "camera cam: pre-roll nan s is outside"),
    ],
)
def test_bad_windows_are_rejected_and_nothing_else_changes(
    tmp_path: Path,
    packets: list[EncodedPacket],
    caplog: pytest.LogCaptureFixture,
    pre: float,
    post: float,
    message: str,
) -> None:
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink)
    feed(ring, packets[:150])
    before = ring.snapshot()
    with caplog.at_level(logging.WARNING), pytest.raises(TriggerRejected, match=message):
        writer.request_clip(
            ClipRequest(
                trigger=trigger_at(packets[149].captured_at),
                camera_id="cam",
                pre_s=pre,
                post_s=post,
            )
        )
    assert message in caplog.text
    assert writer.pending_count == 0 and ring.snapshot() == before


def test_unknown_camera_empty_ring_and_stale_window_are_rejected(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink)
    with pytest.raises(TriggerRejected, match="camera cam: no video in memory yet"):
        writer.request_clip(ClipRequest(trigger=trigger_at(packets[0].captured_at)))
    feed(ring, packets)
    with pytest.raises(TriggerRejected, match="camera side: no such camera on this box"):
        writer.request_clip(
            ClipRequest(trigger=trigger_at(packets[0].captured_at), camera_id="side")
        )
    with pytest.raises(
        TriggerRejected, match="before the oldest video in memory; cut it from recorded segments"
    ):
        writer.request_clip(ClipRequest(trigger=trigger_at(packets[0].captured_at)))
    with pytest.raises(TriggerRejected, match="in the future"):
        writer.request_clip(ClipRequest(trigger=trigger_at(packets[-1].captured_at + 3600)))


def test_session_comes_from_the_request_or_the_active_session(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    active = uuid4()
    explicit = uuid4()
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink, active_session=lambda: active)
    feed(ring, packets[:100])
    writer.request_clip(
        ClipRequest(trigger=trigger_at(ms(packets[60].captured_at)), pre_s=0, post_s=0)
    )
    writer.request_clip(
        ClipRequest(
            trigger=trigger_at(ms(packets[95].captured_at)), pre_s=0, post_s=0, session_id=explicit
        )
    )
    feed(ring, packets[100:])
    writer.process_ready()
    assert sorted(str(c.session_id) for c in sink.clips) == sorted([str(active), str(explicit)])


def test_every_camera_clips_when_no_camera_is_named(tmp_path: Path, video: TestVideo) -> None:
    config = CONFIG
    rings = {name: PacketRing(name, config.ring_seconds) for name in ("north", "south", "idle")}
    sink = ListSink()
    writer = ClipWriter(config, rings, ClipFileWriter(tmp_path, 160), sink)
    north, south = read_packets(video, "north"), read_packets(video, "south")
    feed(rings["north"], north[:100])
    feed(rings["south"], south[:100])
    ids = writer.request_clip(
        ClipRequest(trigger=trigger_at(ms(north[99].captured_at)), pre_s=1, post_s=1)
    )
    assert len(ids) == 2  # the idle camera has no video; the others still clip
    feed(rings["north"], north[100:])
    feed(rings["south"], south[100:])
    writer.process_ready()
    assert sorted(c.camera_id for c in sink.clips) == ["north", "south"]


def test_camera_gone_silent_finishes_the_clip_with_what_there_is(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    sink = ListSink()
    writer, ring = make_writer(tmp_path, sink, silence_grace_s=0.0)
    feed(ring, packets[:100])
    writer.request_clip(
        ClipRequest(trigger=trigger_at(ms(packets[99].captured_at)), pre_s=1, post_s=3)
    )
    feed(ring, packets[100:110])  # then the camera stops
    # The deadline is "window end minus newest frame" from now: about 2.7 s here.
    writer._pending[0].deadline = 0.0  # skip the wait, not the rule
    assert writer.process_ready() == 1
    assert decode_clip(sink.clips[0].path).indices == list(range(60, 110))
