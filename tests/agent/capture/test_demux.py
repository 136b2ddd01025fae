from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest

from agent.capture.packets import has_parameter_sets, nal_types
from agent.capture.sources.base import SourceError, SourceRefused, UnsupportedStream
from agent.capture.sources.demux import DemuxSource, redact_url
from agent.capture.sources.transcode import TranscodeSettings
from tests.agent.capture.conftest import read_packets
from tests.media import TestVideo, write_garbage


def test_file_packets_are_in_normal_form(video: TestVideo) -> None:
    packets = read_packets(video)
    assert len(packets) == video.frames
    keyframes = [p for p in packets if p.is_keyframe]
    assert len(keyframes) == video.frames // video.keyframe_interval
    for packet in packets:
        assert packet.data.startswith(b"\x00\x00\x00\x01") or packet.data.startswith(
            b"\x00\x00\x01"
        )
    assert all(has_parameter_sets(p.data) and 5 in nal_types(p.data) for p in keyframes)
    times = [p.captured_at for p in packets]
    assert all(abs((b - a) - 1 / 30) < 1e-6 for a, b in itertools.pairwise(times))


def test_looping_file_starts_a_new_stream_and_keeps_time_moving(video: TestVideo) -> None:
    source = DemuxSource("cam", "file", video.path, loop=True)
    source.open()
    packets = []
    for packet in source.packets():
        packets.append(packet)
        if len(packets) == video.frames + 10:
            break
    source.close()
    first, second = packets[0].stream, packets[video.frames].stream
    assert first is not second and first.compatible(second)
    assert packets[video.frames].is_keyframe
    step = packets[video.frames].captured_at - packets[video.frames - 1].captured_at
    assert abs(step - 1 / 30) < 1e-6


def test_missing_file_is_a_clear_error_naming_the_camera(tmp_path: Path) -> None:
    source = DemuxSource("goal-cam", "file", tmp_path / "nope.mp4")
    with pytest.raises(SourceError, match=r"camera goal-cam: cannot open .*nope\.mp4"):
        source.open()


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    source = DemuxSource("cam", "file", write_garbage(tmp_path / "junk.mp4"))
    with pytest.raises(SourceError, match=r"camera cam: cannot open .*junk.mp4: Invalid data"):
        source.open()


def test_a_codec_that_may_not_be_transcoded_is_refused_with_the_fix_for_its_source(
    mpeg4_video: TestVideo,
) -> None:
    """Without transcode settings (``transcode = false``) the hint fits the kind of source."""
    path = mpeg4_video.path
    hints = {
        "file": f"{path} is mpeg4, not H.264, and transcoding is off for this camera: set "
        f"transcode = true, or convert the file once: ffmpeg -i {path} -c:v libx264",
        "rtsp": "sends mpeg4, not H.264, and transcoding is off for this camera: set this "
        "stream's video codec to H.264 in the camera's settings page",
        "substream": "sends mpeg4, not H.264; set the substream's video codec to H.264",
    }
    for kind, hint in hints.items():
        source = DemuxSource("cam", kind, path)
        with pytest.raises(UnsupportedStream) as refused:
            source.open()
        assert isinstance(refused.value, SourceRefused)  # retrying would not help
        assert hint in str(refused.value), kind
    # A substream is refused even where the camera could transcode: detection reads H.264.
    with pytest.raises(UnsupportedStream):
        DemuxSource("cam", "substream", path, transcode=TranscodeSettings()).open()


def test_unreachable_rtsp_url_is_a_clear_error_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from agent.capture.config import RtspCameraConfig
    from agent.capture.sources.factory import make_source

    camera = RtspCameraConfig(
        id="gate", url="rtsp://admin:hunter2@127.0.0.1:9/stream", open_timeout_s=2
    )
    source = make_source(camera)
    with caplog.at_level(logging.INFO), pytest.raises(SourceError) as caught:
        source.open()
    assert "camera gate" in str(caught.value) and "127.0.0.1:9" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_b_frame_files_keep_decode_order(bframe_video: TestVideo) -> None:
    packets = read_packets(bframe_video)
    assert [p.dts for p in packets] == sorted(p.dts for p in packets)
    assert any(p.pts != p.dts for p in packets)


def test_redact_url() -> None:
    assert redact_url("rtsp://u:p@h:554/x") == "rtsp://u:***@h:554/x"
    assert redact_url("rtsp://h/x") == "rtsp://h/x"
