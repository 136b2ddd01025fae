"""Building a camera's source from its config section."""

from __future__ import annotations

from agent.capture.config import (
    CameraConfig,
    FileCameraConfig,
    PiCameraConfig,
    RtspCameraConfig,
    TestPatternCameraConfig,
    V4l2CameraConfig,
)
from agent.capture.sources.base import VideoSource
from agent.capture.sources.demux import DemuxSource
from agent.capture.sources.encoder import EncoderSettings
from agent.capture.sources.transcode import TranscodeSettings

__all__ = ["encoder_settings", "make_source", "make_substream_source", "transcode_settings"]


def encoder_settings(camera: TestPatternCameraConfig | PiCameraConfig) -> EncoderSettings:
    return EncoderSettings(
        width=camera.width,
        height=camera.height,
        fps=camera.fps,
        keyframe_interval_s=camera.keyframe_interval_s,
        bitrate_kbps=camera.bitrate_kbps,
        preset=camera.preset,
        choice=camera.encoder,
    )


def transcode_settings(camera: FileCameraConfig | RtspCameraConfig) -> TranscodeSettings | None:
    """How a stream that is not H.264 is re-encoded; None when the camera forbids it."""
    if not camera.transcode:
        return None
    return TranscodeSettings(
        keyframe_interval_s=camera.keyframe_interval_s,
        bitrate_kbps=camera.transcode_bitrate_kbps,
        preset=camera.preset,
        choice=camera.encoder,
    )


def make_source(camera: CameraConfig) -> VideoSource:
    """A fresh, unopened source for ``camera`` (the runner makes one per attempt)."""
    if isinstance(camera, FileCameraConfig):
        return DemuxSource(
            camera.id,
            "file",
            camera.path,
            loop=camera.loop,
            realtime=camera.realtime,
            read_timeout_s=camera.stall_timeout_s,
            transcode=transcode_settings(camera),
        )
    if isinstance(camera, RtspCameraConfig):
        return DemuxSource(
            camera.id,
            "rtsp",
            camera.url,
            options=_rtsp_options(camera),
            open_timeout_s=camera.open_timeout_s,
            read_timeout_s=camera.stall_timeout_s,
            transcode=transcode_settings(camera),
        )
    # Raw-frame sources (and numpy, which they need) are imported only for cameras that use them.
    if isinstance(camera, TestPatternCameraConfig):
        from agent.capture.sources.raw import EncodingSource, TestPatternProducer

        producer = TestPatternProducer(
            camera.width,
            camera.height,
            camera.fps,
            figures=camera.figures,
            realtime=camera.realtime,
        )
        return EncodingSource(camera.id, "test", producer, encoder_settings(camera))
    if isinstance(camera, V4l2CameraConfig):
        options = {"video_size": f"{camera.width}x{camera.height}", "framerate": f"{camera.fps:g}"}
        if camera.input_format != "auto":
            options["input_format"] = camera.input_format
        return DemuxSource(
            camera.id,
            "v4l2",
            camera.device,
            format="v4l2",
            options=options,
            read_timeout_s=camera.stall_timeout_s,
            transcode=TranscodeSettings(
                keyframe_interval_s=camera.keyframe_interval_s,
                bitrate_kbps=camera.bitrate_kbps,
                preset=camera.preset,
                choice=camera.encoder,
            ),
        )
    if isinstance(camera, PiCameraConfig):
        from agent.capture.sources.picamera import PiCameraSource

        return PiCameraSource(camera)
    raise TypeError(f"unknown camera kind: {camera!r}")


def make_substream_source(camera: RtspCameraConfig) -> VideoSource:
    """A fresh source for ``camera``'s low-resolution detection stream (``substream_url``)."""
    if camera.substream_url is None:
        raise ValueError(f"camera {camera.id} has no substream_url")
    return DemuxSource(
        f"{camera.id} substream",
        "substream",
        camera.substream_url,
        options=_rtsp_options(camera),
        open_timeout_s=camera.open_timeout_s,
        read_timeout_s=camera.stall_timeout_s,
    )


def _rtsp_options(camera: RtspCameraConfig) -> dict[str, str]:
    options: dict[str, str] = {"rtsp_transport": camera.transport}
    if camera.transport == "udp":
        options["buffer_size"] = str(4 * 1024 * 1024)  # keyframes arrive as bursts
    return options
