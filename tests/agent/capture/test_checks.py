"""``sideline agent check``'s camera lines: video flows, or the reason it does not."""

from __future__ import annotations

from pathlib import Path

from agent.capture.config import (
    FileCameraConfig,
    PiCameraConfig,
    RtspCameraConfig,
    TestPatternCameraConfig,
)
from agent.capture.sources.checks import check_camera
from tests.agent.capture.rtsp import RtspPublisher, RtspServer
from tests.media import TestVideo, write_garbage


def test_working_cameras_report_what_they_send(video: TestVideo) -> None:
    [pattern] = check_camera(TestPatternCameraConfig(id="pat", width=320, height=240, fps=15))
    assert pattern.ok and pattern.name == "camera pat (test)"
    assert pattern.detail.startswith(
        "320x240 at 15 fps (h264, encoded with libx264), first video after"
    )
    [replay] = check_camera(FileCameraConfig(id="replay", path=video.path))
    assert replay.ok and replay.detail.startswith("640x360 at 30 fps (h264)")


def test_a_camera_in_another_codec_says_it_is_transcoded_or_why_not(
    mpeg4_video: TestVideo,
) -> None:
    [transcoded] = check_camera(FileCameraConfig(id="old", path=mpeg4_video.path))
    assert transcoded.ok, transcoded.detail
    assert "(mpeg4, transcoded to H.264 with libx264)" in transcoded.detail
    [refused] = check_camera(FileCameraConfig(id="old", path=mpeg4_video.path, transcode=False))
    assert not refused.ok and "transcoding is off for this camera" in refused.detail
    assert "convert the file once: ffmpeg -i" in refused.detail


def test_broken_cameras_say_why_without_a_traceback(tmp_path: Path) -> None:
    [garbage] = check_camera(FileCameraConfig(id="junk", path=write_garbage(tmp_path / "j.mp4")))
    assert not garbage.ok and "cannot open" in garbage.detail and "j.mp4" in garbage.detail
    [refused] = check_camera(
        RtspCameraConfig(id="gate", url="rtsp://viewer:secret@127.0.0.1:9/x", open_timeout_s=3)
    )
    assert not refused.ok and "rtsp://viewer:***@127.0.0.1:9/x" in refused.detail
    assert "secret" not in refused.detail
    [pi] = check_camera(PiCameraConfig(id="pi"))  # picamera2 does not exist here
    assert not pi.ok and "apt install python3-picamera2" in pi.detail


def test_a_dead_substream_is_its_own_failed_line(rtsp_server: RtspServer, video: TestVideo) -> None:
    publisher = RtspPublisher(video.path, rtsp_server.publish_url("main")).start_and_wait()
    try:
        main, sub = check_camera(
            RtspCameraConfig(
                id="gate",
                url=rtsp_server.url("main"),
                substream_url=rtsp_server.url("nobody-publishes-here"),
                transport="udp",
                open_timeout_s=3,
                stall_timeout_s=2,
            )
        )
    finally:
        publisher.stop()
    assert main.ok and main.detail.startswith("640x360 at 30 fps (h264)"), main.detail
    assert sub.name == "camera gate substream" and not sub.ok
    assert "nobody-publishes-here" in sub.detail
