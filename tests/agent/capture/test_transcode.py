"""Cameras as they come: every codec other than H.264 is transcoded once, on the way in.

Generated sources in each codec (PyAV writes them, with the burned-in frame stamp),
as file cameras and, where FFmpeg's RTP muxer can carry the codec, as RTSP cameras
through the real relay: clips decode to exactly the frames of the window, and the
camera's health names the codec and the encoder. Small and short (320x180, 3 s):
full resolutions are bench/capture_transcode.py's.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig, EncoderChoice, FileCameraConfig, RtspCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.base import UnsupportedStream, VideoSource
from agent.capture.sources.cpu import CodecCpu, CpuRate
from agent.capture.sources.encoder import (
    EncoderSettings,
    H264Encoder,
    choose_encoder,
    codec_options,
    encoder_works,
)
from agent.capture.sources.factory import make_source
from agent.interfaces.frames import Frame
from agent.interfaces.sinks import LocalClip
from agent.interfaces.triggers import ClipRequest
from tests.agent.capture.conftest import ListSink, feed, trigger_at
from tests.agent.capture.rtsp import RtspPublisher, RtspServer
from tests.agent.capture.test_runner import start
from tests.media import TestVideo, decode_clip, write_test_video
from tests.waiting import wait_until


@dataclass(frozen=True)
class Codec:
    name: str  # what FFmpeg's decoder calls it, and the camera's health says
    encoder: str  # PyAV's encoder that writes the test source
    container: str
    suffix: str
    bframes: int = 0
    rtsp: bool = True  # FFmpeg's RTP muxer can carry it


CODECS = [
    Codec("hevc", "hevc", "mp4", "mp4", bframes=2),  # many IP cameras' default
    Codec("mjpeg", "mjpeg", "avi", "avi"),  # USB webcams, older IP cameras
    Codec("mpeg4", "mpeg4", "avi", "avi"),  # MPEG-4 Part 2: older cameras, phone exports
    Codec("msmpeg4", "msmpeg4", "avi", "avi", rtsp=False),  # Microsoft's MPEG-4 v3 AVIs
    Codec("vp8", "libvpx", "webm", "webm"),
    Codec("vp9", "libvpx-vp9", "webm", "webm"),
]
RTSP_CODECS = [c for c in CODECS if c.rtsp]

CLIPS = ClipConfig(
    pre_seconds=1, post_seconds=0.5, max_pre_seconds=2, max_post_seconds=2, ring_seconds=3
)


@pytest.fixture(scope="session")
def sources(media_dir: Path) -> dict[str, TestVideo]:
    """One 320x180, 3 s, 30 fps source per codec, an I-frame every 15 frames."""
    return {
        codec.name: write_test_video(
            media_dir / f"source-{codec.name}.{codec.suffix}",
            width=320,
            height=180,
            seconds=3,
            keyframe_interval=15,
            codec=codec.encoder,
            container=codec.container,
            bframes=codec.bframes,
        )
        for codec in CODECS
    }


def file_camera(video: TestVideo, *, transcode: bool = True) -> FileCameraConfig:
    return FileCameraConfig(
        id="cam",
        path=video.path,
        loop=False,
        realtime=False,
        keyframe_interval_s=0.5,
        transcode=transcode,
    )


def transcoded(video: TestVideo) -> tuple[VideoSource, list[EncodedPacket]]:
    source = make_source(file_camera(video))
    source.open()
    try:
        return source, list(source.packets())
    finally:
        source.close()


def clip_of(directory: Path, packets: list[EncodedPacket], at: int) -> LocalClip:
    """The clip a trigger at frame ``at`` makes (pre 1 s, post 0.5 s)."""
    ring = PacketRing("cam", CLIPS.ring_seconds)
    sink = ListSink()
    writer = ClipWriter(CLIPS, {"cam": ring}, ClipFileWriter(directory, 160), sink)
    feed(ring, packets[: at + 1])
    writer.request_clip(ClipRequest(trigger=trigger_at(packets[at].captured_at)))
    feed(ring, packets[at + 1 :])
    assert writer.process_ready() == 1
    [clip] = sink.clips
    return clip


@pytest.mark.parametrize("codec", [c.name for c in CODECS])
def test_a_file_in_another_codec_is_transcoded_and_clips_hold_exactly_the_window(
    tmp_path: Path, sources: dict[str, TestVideo], codec: str
) -> None:
    video = sources[codec]
    source, packets = transcoded(video)
    assert source.codec == codec and source.encoder_name == "libx264"
    assert len(packets) == video.frames  # every frame, once
    keys = [i for i, p in enumerate(packets) if p.is_keyframe]
    assert keys == list(range(0, video.frames, 15))  # our keyframe interval, not the source's
    clip = clip_of(tmp_path, packets, at=50)  # T at frame 50: T - 1 s is frame 20, T + 0.5 s 65
    decoded = decode_clip(clip.path)
    assert decoded.codec == "h264" and decoded.pix_fmt == "yuv420p" and decoded.keyframe_first
    assert decoded.indices == list(range(15, 66))  # keyframe 15 <= frame 20; through 65
    assert decoded.first_time_s == 0.0 and clip.frame_count == decoded.frames


def test_transcoding_off_refuses_with_a_fix_that_fits_the_source(
    sources: dict[str, TestVideo],
) -> None:
    video = sources["mpeg4"]
    source = make_source(file_camera(video, transcode=False))
    with pytest.raises(UnsupportedStream) as refused:
        source.open()
    message = str(refused.value)
    assert message.startswith(f"camera cam: {video.path} is mpeg4, not H.264, and transcoding")
    assert "set transcode = true, or convert the file once: ffmpeg -i" in message
    assert f"{video.path.parent / 'source-mpeg4-h264.mp4'}" in message


def test_a_transcoded_camera_feeds_detection_without_decoding_twice(
    sources: dict[str, TestVideo], caplog: pytest.LogCaptureFixture
) -> None:
    camera = FileCameraConfig(
        id="yard", path=sources["hevc"].path, realtime=False, keyframe_interval_s=0.5
    )
    tap = FrameTap("yard", 160)
    frames: list[Frame] = []
    tap.add_listener(frames.append, fps=5)
    runner = CameraRunner("yard", lambda: make_source(camera), PacketRing("yard", 3), tap)
    with caplog.at_level(logging.INFO):
        thread = start(runner)
        # The looped file plays faster than real time: 3 s of video arrive in a moment.
        wait_until(
            lambda: runner.frames_captured > 150 and runner.health().encode_cpu_percent is not None
        )
        runner.stop()
        thread.join(10)
    health = runner.health()
    assert (health.codec, health.encoder) == ("hevc", "libx264")
    assert health.encode_cpu_percent is not None and health.encode_cpu_percent > 0
    assert frames and tap.frames_decoded == 0  # frames came from the transcoder's decoder
    assert {(f.width, f.height) for f in frames} == {(160, 90)}
    assert "camera yard: transcoding hevc to H.264 with libx264 (320x180 at 30 fps" in caplog.text
    assert "camera yard is transcoded from hevc with libx264: about " in caplog.text
    assert "% of a core at 320x180 30 fps" in caplog.text


def test_rtsp_cameras_in_every_codec_the_relay_carries_are_transcoded(
    tmp_path: Path, rtsp_server: RtspServer, sources: dict[str, TestVideo]
) -> None:
    """All at once on one relay (one mount each), so the suite waits for them only once."""
    publishers = [
        RtspPublisher(sources[c.name].path, rtsp_server.publish_url(c.name)).start_and_wait()
        for c in RTSP_CODECS
    ]
    rings = {c.name: PacketRing(c.name, CLIPS.ring_seconds) for c in RTSP_CODECS}

    def camera(name: str) -> RtspCameraConfig:
        return RtspCameraConfig(
            id=name,
            url=rtsp_server.url(name),
            transport="udp",
            keyframe_interval_s=0.5,
            stall_timeout_s=3,
        )

    runners = [
        CameraRunner(
            c.name,
            functools.partial(make_source, camera(c.name)),
            rings[c.name],
            FrameTap(c.name, 160),
        )
        for c in RTSP_CODECS
    ]
    sink = ListSink()
    writer = ClipWriter(CLIPS, rings, ClipFileWriter(tmp_path, 160), sink)
    threads = [start(runner) for runner in runners]
    try:
        wait_until(lambda: all(ring.span_seconds > 1.6 for ring in rings.values()), timeout_s=30)
        moment = min(ring.newest_time or 0 for ring in rings.values()) - 0.2
        ids = writer.request_clip(ClipRequest(trigger=trigger_at(moment)))
        assert len(ids) == len(RTSP_CODECS)
        wait_until(lambda: writer.process_ready() > 0 and len(sink.clips) == len(ids), timeout_s=10)
        health = {runner.camera_id: runner.health() for runner in runners}
    finally:
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(10)
        for publisher in publishers:
            publisher.stop()
    for clip in sink.clips:
        decoded = decode_clip(clip.path)
        indices = decoded.indices
        assert decoded.codec == "h264" and decoded.keyframe_first, clip.camera_id
        assert len(indices) == decoded.frames >= 10, clip.camera_id  # every frame readable
        # The window is covered (on the box's clock: a loaded machine may re-anchor a live
        # camera's timeline, so the frame count is not fixed): T - 1 s through T + 0.5 s.
        assert clip.started_at.timestamp() <= moment - 1 + 0.001, clip.camera_id
        assert clip.ended_at.timestamp() >= moment + 0.5 - 0.001, clip.camera_id
        steps = list(itertools.pairwise(indices))
        # Every frame once (or the publisher's loop back to frame 0).
        assert all(b - a == 1 or b < a for a, b in steps), (clip.camera_id, indices)
    for codec in RTSP_CODECS:
        assert health[codec.name].codec == codec.name
        assert health[codec.name].encoder == "libx264"


@pytest.mark.browser
def test_transcoded_clips_play_in_chromium(
    sources: dict[str, TestVideo], served: tuple[Path, str]
) -> None:
    from tests.agent.capture.test_browser import chromium_plays

    root, base = served
    clips = [clip_of(root / c.name, transcoded(sources[c.name])[1], at=50) for c in CODECS]
    for clip, (width, height, duration, error, _) in zip(
        clips, chromium_plays(base, root, [c.path for c in clips]), strict=True
    ):
        assert (width, height, error) == (320, 180, None), clip.path
        assert abs(duration - clip.duration_ms / 1000) < 0.1


# -- the encoder the box picks, and what it costs --------------------------------------------


def test_auto_prefers_a_jetson_then_a_pi_encoder_and_falls_back_to_libx264(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No Jetson or Pi here: the choice is tested with a probe that says what works."""

    def only(*working: str):  # type: ignore[no-untyped-def]
        return lambda name, width, height: name in working

    auto = EncoderChoice.AUTO
    assert choose_encoder("c", auto, 1920, 1080, only("h264_nvmpi", "h264_v4l2m2m")) == (
        "h264_nvmpi"
    )
    assert choose_encoder("c", auto, 1920, 1080, only("h264_v4l2m2m")) == "h264_v4l2m2m"
    assert choose_encoder("c", auto, 1920, 1080, only()) == "libx264"
    assert choose_encoder("c", EncoderChoice.LIBX264, 64, 64, only("h264_nvmpi")) == "libx264"
    with caplog.at_level(logging.WARNING):
        assert choose_encoder("gate", EncoderChoice.NVMPI, 64, 64, only()) == "libx264"
    assert "camera gate: h264_nvmpi is configured but does not work on this box" in caplog.text
    # And the real probe: this machine's PyAV has no jetson-ffmpeg encoder.
    assert not encoder_works("h264_nvmpi", 320, 240) and encoder_works("libx264", 320, 240)


def test_each_encoder_gets_live_capture_options() -> None:
    settings = EncoderSettings(
        width=1280, height=720, fps=30, keyframe_interval_s=1, bitrate_kbps=2000
    )
    x264 = codec_options("libx264", settings)
    assert x264["tune"] == "zerolatency" and "keyint=30:min-keyint=30" in x264["x264-params"]
    assert "bframes=0" in x264["x264-params"] and "repeat-headers=1" in x264["x264-params"]
    # jetson-ffmpeg's h264_nvmpi: repeats SPS/PPS at every IDR (no global header asked),
    # constant bitrate for a ring sized by the bitrate.
    assert codec_options("h264_nvmpi", settings) == {
        "preset": "fast",
        "profile": "high",
        "rc": "cbr",
    }
    assert codec_options("h264_v4l2m2m", settings) == {}


def test_codec_cpu_counts_the_threads_the_codecs_start() -> None:
    meter = CodecCpu()
    assert meter.available  # Linux /proc here
    settings = EncoderSettings(
        width=640, height=360, fps=30, keyframe_interval_s=1, bitrate_kbps=1000
    )
    with meter.opening():
        encoder = H264Encoder("cam", "test", settings)
    rate = CpuRate(meter, first_window_s=1.0)
    own_before, counted_before = time.thread_time(), meter.seconds()
    assert counted_before is not None
    frame = av.VideoFrame(640, 360, "yuv420p")
    figure = None
    for index in range(60):
        frame.pts = None
        encoder.encode(frame, 1000.0 + index / 30)
        figure = rate.update(index / 30) or figure
    own, counted = time.thread_time() - own_before, (meter.seconds() or 0) - counted_before
    # At least this thread's own time (clock ticks are 10 ms: allow one), and more where
    # libx264's threads worked too.
    assert counted >= own - 0.011
    assert figure is not None and figure >= 0


def test_the_status_of_a_transcoded_camera_is_one_stream_session(
    sources: dict[str, TestVideo],
) -> None:
    """A looped transcoded file is one encoder session: timestamps go on across passes."""
    source = make_source(
        FileCameraConfig(
            id="cam", path=sources["vp8"].path, realtime=False, keyframe_interval_s=0.5
        )
    )
    source.open()
    packets: list[EncodedPacket] = []
    for packet in source.packets():
        packets.append(packet)
        if len(packets) == 2 * sources["vp8"].frames + 10:
            break
    source.close()
    assert {id(p.stream) for p in packets} == {id(packets[0].stream)}
    times = [p.captured_at for p in packets]
    assert times == sorted(times) and all(
        abs((b - a) - 1 / 30) < 1e-3 for a, b in itertools.pairwise(times)
    )
