from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.capture.clips.files import mux_mp4
from agent.capture.clips.timeline import lay_out
from agent.capture.config import EncoderChoice, V4l2CameraConfig
from agent.capture.packets import has_parameter_sets
from agent.capture.sources.demux import DemuxSource
from agent.capture.sources.encoder import EncoderSettings, H264Encoder, encoder_works
from agent.capture.sources.factory import make_source
from agent.capture.sources.raw import EncodingSource, TestPatternProducer
from agent.capture.sources.transcode import TranscodeSettings
from tests.media import decode_clip, write_test_video


def settings(choice: EncoderChoice = EncoderChoice.AUTO) -> EncoderSettings:
    return EncoderSettings(
        width=320, height=240, fps=30, keyframe_interval_s=0.5, bitrate_kbps=600, choice=choice
    )


def test_hardware_encoder_is_used_only_when_it_really_encodes() -> None:
    # No V4L2 mem-to-mem device on this machine: the probe must say so, and AUTO falls back.
    assert encoder_works("libx264", 320, 240)
    assert not encoder_works("h264_v4l2m2m", 320, 240)
    assert H264Encoder("cam", "test", settings()).name == "libx264"


def test_forced_hardware_encoder_falls_back_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        encoder = H264Encoder("cam7", "v4l2", settings(EncoderChoice.V4L2M2M))
    assert encoder.name == "libx264"
    assert "camera cam7: h264_v4l2m2m is configured but does not work" in caplog.text


def test_encoded_test_pattern_has_fixed_keyframes_and_every_frame(tmp_path) -> None:  # type: ignore[no-untyped-def]
    producer = TestPatternProducer(320, 240, 30, realtime=False, start_at=1_767_261_600.0)
    source = EncodingSource("cam", "test", producer, settings())
    source.open()
    packets = []
    for packet in source.packets():
        packets.append(packet)
        if len(packets) == 90:
            break
    source.close()
    keys = [i for i, p in enumerate(packets) if p.is_keyframe]
    assert keys == list(range(0, 90, 15))  # keyframe_interval_s=0.5 at 30 fps
    assert all(has_parameter_sets(packets[i].data) for i in keys)
    assert all(p.pts == p.dts for p in packets)  # no B-frames: nothing held back
    assert abs(packets[1].captured_at - packets[0].captured_at - 1 / 30) < 1e-4
    path = tmp_path / "pattern.mp4"
    mux_mp4(path, lay_out(packets))
    assert decode_clip(path).indices == list(range(90))


@pytest.mark.parametrize(
    ("codec", "container", "pix_fmt", "encoder"),
    [
        ("mjpeg", "avi", None, "libx264"),  # what most UVC cameras send at 720p and above
        ("rawvideo", "nut", "yuyv422", "libx264"),  # their raw YUYV
        ("libx264", "mp4", None, None),  # some UVC cameras offer H.264: kept, never re-encoded
    ],
)
def test_a_v4l2_camera_is_read_like_any_other_demuxed_one(
    tmp_path: Path, codec: str, container: str, pix_fmt: str | None, encoder: str | None
) -> None:
    """No /dev/video* here: PyAV's same demux/decode path, fed from files in the formats a
    UVC camera gives (the v4l2 input differs only in where the packets come from)."""
    video = write_test_video(
        tmp_path / f"usb.{container}",
        width=320,
        height=180,
        seconds=2,
        codec=codec,
        container=container,
        pix_fmt=pix_fmt,
    )
    source = DemuxSource("usb", "v4l2", video.path, transcode=TranscodeSettings())
    source.open()
    packets = list(source.packets())
    source.close()
    assert source.encoder_name == encoder
    assert source.provides_raw_frames is (encoder is not None)  # decoded anyway: no tap decode
    path = tmp_path / "usb.mp4"
    mux_mp4(path, lay_out(packets))
    decoded = decode_clip(path)
    assert (decoded.width, decoded.height, decoded.codec) == (320, 180, "h264")
    assert decoded.indices == list(range(video.frames))  # every frame, once


def test_a_v4l2_camera_asks_the_driver_for_its_size_rate_and_format() -> None:
    camera = V4l2CameraConfig(
        id="usb", width=1280, height=720, fps=30, input_format="h264", bitrate_kbps=3000
    )
    source = make_source(camera)
    assert isinstance(source, DemuxSource) and source.kind == "v4l2"
    assert source._format == "v4l2"  # the wiring is what is under test
    assert source._options == {
        "video_size": "1280x720",
        "framerate": "30",
        "input_format": "h264",
    }
    assert source._transcode == TranscodeSettings(bitrate_kbps=3000)
    default = make_source(V4l2CameraConfig(id="usb"))
    assert isinstance(default, DemuxSource) and "input_format" not in default._options


def test_missing_v4l2_device_is_a_clear_error() -> None:
    from pathlib import Path

    from agent.capture.config import V4l2CameraConfig
    from agent.capture.sources.base import SourceError
    from agent.capture.sources.factory import make_source

    source = make_source(V4l2CameraConfig(id="usb", device=Path("/dev/video97")))
    with pytest.raises(SourceError, match="camera usb: cannot open /dev/video97"):
        source.open()
