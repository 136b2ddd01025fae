"""Continuous recording in segments, the disk quota, and clips cut after the fact."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.capture.config import RecordingConfig
from agent.capture.packets import EncodedPacket
from agent.capture.recording.recorder import SegmentRecorder
from agent.capture.service import CaptureService
from agent.config import AgentConfig
from agent.interfaces.triggers import TriggerRejected
from protocol import TriggerSource, new_id
from tests.agent.capture.conftest import ListSink, trigger_at
from tests.media import decode_clip
from tests.waiting import wait_until


def without_aud(data: bytes) -> bytes:
    aud = b"\x00\x00\x00\x01\x09\xf0"
    return data[len(aud) :] if data.startswith(aud) else data


def record(tmp_path: Path, packets: list[EncodedPacket], **config: object) -> SegmentRecorder:
    recorder = SegmentRecorder(RecordingConfig(enabled=True, **config), tmp_path, ["cam"])
    thread = threading.Thread(target=recorder.run)
    thread.start()
    for packet in packets:
        recorder.on_packet(packet)
        time.sleep(0)  # let the writer keep up with the bounded queue
    recorder.stop()
    thread.join(10)
    return recorder


def test_segments_start_on_keyframes_and_read_back_whole(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    recorder = record(tmp_path, packets, segment_seconds=2)
    segments = recorder.segments("cam")
    assert len(segments) == 4  # 8 s of video, a keyframe every second
    for segment in segments:
        back = recorder.packets_between("cam", segment.start, segment.start)
        assert back[0].is_keyframe
        assert abs((segment.end - segment.start) - 2.0) < 0.05
    first, last = packets[0].captured_at, packets[-1].captured_at
    back = recorder.packets_between("cam", first, last)
    # Stream copy: the bytes are the camera's, except the access unit delimiter MPEG-TS adds.
    assert [without_aud(p.data) for p in back] == [p.data for p in packets]
    assert all(
        abs(a.captured_at - b.captured_at) < 0.002 for a, b in zip(back, packets, strict=True)
    )
    assert not list((tmp_path / "cam").glob(".*"))  # no partial left


def test_quota_deletes_the_oldest_segments(tmp_path: Path, packets: list[EncodedPacket]) -> None:
    one_second = sum(p.size for p in packets[:30])
    recorder = record(tmp_path, packets, segment_seconds=1, quota_bytes=int(one_second * 3.5))
    segments = recorder.segments("cam")
    assert recorder.total_bytes <= one_second * 3.5 and recorder.segments_deleted >= 3
    assert segments[-1].end >= packets[-1].captured_at  # the newest are kept
    assert sorted(p.name for p in (tmp_path / "cam").iterdir()) == sorted(
        s.path.name for s in segments
    )


def test_recording_off_writes_nothing(tmp_path: Path, packets: list[EncodedPacket]) -> None:
    recorder = SegmentRecorder(RecordingConfig(enabled=False), tmp_path, ["cam"])
    for packet in packets:
        recorder.on_packet(packet)
    assert recorder.segments("cam") == [] and not (tmp_path / "cam").exists()
    with pytest.raises(KeyError, match="camera nope"):
        recorder.set_enabled(True, "nope")


def test_segment_cut_short_by_a_crash_is_kept_up_to_its_last_whole_frame(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    recorder = record(tmp_path / "a", packets[:90], segment_seconds=10)
    [segment] = recorder.segments("cam")
    folder = tmp_path / "b" / "cam"
    folder.mkdir(parents=True)
    partial = folder / f".{round(segment.start * 1000)}.ts.partial"
    data = segment.path.read_bytes()
    partial.write_bytes(data[: len(data) * 2 // 3])  # the power went mid-write
    fresh = SegmentRecorder(RecordingConfig(enabled=True), tmp_path / "b", ["cam"])
    fresh.load_index()
    [salvaged] = fresh.segments("cam")
    back = fresh.packets_between("cam", salvaged.start, salvaged.end)
    assert 30 < len(back) < 90 and back[0].is_keyframe
    assert not partial.exists()


def test_clip_range_cuts_from_segments_after_the_ring_has_moved_on(tmp_path: Path) -> None:
    config = AgentConfig(
        device={"org": "club", "id": "box1", "data_dir": tmp_path},
        cameras=[
            {
                "id": "pitch",
                "kind": "test",
                "width": 320,
                "height": 240,
                "fps": 30,
                "bitrate_kbps": 400,
                "keyframe_interval_s": 0.5,
            }
        ],
        clips={
            "pre_seconds": 1,
            "post_seconds": 1,
            "max_pre_seconds": 1,
            "max_post_seconds": 1,
            "ring_seconds": 1.5,
        },
        recording={"enabled": True, "segment_seconds": 1},
    )
    sink = ListSink()
    service = CaptureService(config, sink)
    service.start()
    try:
        wait_until(lambda: len(service.recorder.segments("pitch")) >= 6)
        segments = service.recorder.segments("pitch")
        start, end = segments[1].start + 0.3, segments[2].end - 0.2
        assert (service.rings["pitch"].oldest_time or 0) > end  # only on disk now
        clip_id = service.clip_range(
            "pitch",
            datetime.fromtimestamp(start, UTC),
            datetime.fromtimestamp(end, UTC),
            trigger_at(time.time(), TriggerSource.CLOUD, by="dashboard"),
        )
        wait_until(lambda: bool(sink.clips))
        with pytest.raises(TriggerRejected, match=r"camera pitch: .* is no longer on this box"):
            service.clip_range(
                "pitch",
                datetime.fromtimestamp(start - 3600, UTC),
                datetime.fromtimestamp(start - 3590, UTC),
                trigger_at(time.time()),
            )
        with pytest.raises(
            TriggerRejected, match="camera pitch: range end must be after its start"
        ):
            service.clip_range(
                "pitch",
                datetime.fromtimestamp(end, UTC),
                datetime.fromtimestamp(start, UTC),
                trigger_at(time.time()),
            )
        with pytest.raises(TriggerRejected, match="longer than the 600 s allowed"):
            service.clip_range(
                "pitch",
                datetime.fromtimestamp(start - 700, UTC),
                datetime.fromtimestamp(end, UTC),
                trigger_at(time.time()),
            )
    finally:
        service.stop()
    [clip] = sink.clips
    assert clip.id == clip_id and clip.triggers[0].source is TriggerSource.CLOUD
    decoded = decode_clip(clip.path)
    clocks = [s.clock_ms / 1000 for s in decoded.stamps if s is not None]
    assert len(clocks) == decoded.frames
    # Shown from the first frame at or after start (decoded from the keyframe before it,
    # hidden by the edit list), to the first frame at or after end.
    assert start - 1e-3 <= clocks[0] < start + 1 / 30 + 1e-3
    assert abs(clip.started_at.timestamp() - clocks[0]) < 2e-3
    assert clocks[-1] >= end - 1e-3
    indices = decoded.indices
    assert indices == list(range(indices[0], indices[0] + len(indices)))  # nothing missing


def test_clip_range_from_memory_without_recording(tmp_path: Path) -> None:
    config = AgentConfig(
        device={"org": "club", "id": "box1", "data_dir": tmp_path},
        cameras=[
            {
                "id": "pitch",
                "kind": "test",
                "width": 320,
                "height": 240,
                "fps": 30,
                "bitrate_kbps": 400,
            }
        ],
    )
    sink = ListSink()
    service = CaptureService(config, sink)
    service.start()
    try:
        wait_until(lambda: service.rings["pitch"].span_seconds > 2)
        newest = service.rings["pitch"].newest_time or 0
        service.clip_range(
            "pitch",
            datetime.fromtimestamp(newest - 1.5, UTC),
            datetime.fromtimestamp(newest - 0.5, UTC),
            trigger_at(time.time()),
        )
        wait_until(lambda: bool(sink.clips))
    finally:
        service.stop()
    assert decode_clip(sink.clips[0].path).frames >= 30
    shutil.rmtree(tmp_path / "clips")


def test_a_range_ending_ahead_is_cut_when_its_end_arrives_and_shows_exactly_the_range(
    tmp_path: Path,
) -> None:
    """A tag's clip: [T - lead, T + lag] asked at T, on two cameras whose keyframes fall at
    different moments: each shows its range from the first frame at or after the start,
    so the two start within one frame interval of each other on the wall clock."""
    camera = {"kind": "test", "width": 320, "height": 240, "fps": 30, "bitrate_kbps": 300}
    config = AgentConfig(
        device={"org": "club", "id": "box1", "data_dir": tmp_path},
        cameras=[
            {"id": "left", **camera, "keyframe_interval_s": 1.0},
            {"id": "right", **camera, "keyframe_interval_s": 0.7},
        ],
        recording={"enabled": True, "segment_seconds": 1},
    )
    sink = ListSink()
    service = CaptureService(config, sink)
    service.start()
    log_id = new_id()
    try:
        wait_until(lambda: all(ring.span_seconds > 2.5 for ring in service.rings.values()))
        moment = time.time()
        start, end = moment - 2.2, moment + 0.8
        ids = {
            camera_id: service.clip_range(
                camera_id,
                datetime.fromtimestamp(start, UTC),
                datetime.fromtimestamp(end, UTC),
                trigger_at(moment, TriggerSource.BUTTON),
                log_id=log_id,
            )
            for camera_id in ("left", "right")
        }
        assert sink.clips == []  # its end has not been filmed yet
        wait_until(lambda: len(sink.clips) == 2)
        assert time.time() >= end
        with pytest.raises(TriggerRejected, match="at most 60 s ahead"):
            service.clip_range(
                "left",
                datetime.fromtimestamp(moment, UTC),
                datetime.fromtimestamp(time.time() + 90, UTC),
                trigger_at(moment),
            )
    finally:
        service.stop()
    starts = {}
    for clip in sink.clips:
        assert clip.id == ids[clip.camera_id] and clip.log_id == log_id
        decoded = decode_clip(clip.path)
        clocks = [s.clock_ms / 1000 for s in decoded.stamps if s is not None]
        assert len(clocks) == decoded.frames == clip.frame_count
        assert start - 1e-3 <= clocks[0] < start + 1 / 30 + 1e-3
        assert clocks[-1] >= end - 1e-3 and clocks[-1] < end + 1 / 30 + 1e-3
        assert abs(clip.started_at.timestamp() - clocks[0]) < 2e-3
        indices = decoded.indices
        assert indices == list(range(indices[0], indices[0] + len(indices)))
        starts[clip.camera_id] = clocks[0]
    assert abs(starts["left"] - starts["right"]) < 1 / 30 + 1e-3
