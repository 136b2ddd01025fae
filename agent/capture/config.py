"""Configuration of cameras, pre-roll clips and continuous recording."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from core.settings import Section
from protocol.ids import Segment

__all__ = [
    "CameraConfig",
    "ClipConfig",
    "EncoderChoice",
    "FileCameraConfig",
    "PiCameraConfig",
    "RecordingConfig",
    "RtspCameraConfig",
    "TestPatternCameraConfig",
    "V4l2CameraConfig",
]


class EncoderChoice(StrEnum):
    AUTO = "auto"  # a hardware encoder that works on this box (Jetson, then Pi 4), else libx264
    NVMPI = "h264_nvmpi"  # a Jetson's encoder, where PyAV is built on FFmpeg with jetson-ffmpeg
    V4L2M2M = "h264_v4l2m2m"  # a Raspberry Pi 4's (a Pi 5 has none)
    LIBX264 = "libx264"


class _CameraBase(Section):
    id: Segment = Field(description="Unique on this box; used in topics, keys and events.")
    name: str | None = Field(default=None, max_length=100)
    detect_width: int = Field(
        default=640, ge=64, le=1920, description="Width of the low-res frames for detection."
    )
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=600)
    stall_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="No frame for this long: reopen the source."
    )
    refused_retry_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="A camera refused for a reason that retrying does not cure (codec not "
        "allowed, file missing, wrong password) is tried again this often, not in a loop.",
    )


class _H264Settings(Section):
    """How the box encodes H.264 when it has to (raw frames, or transcoding)."""

    keyframe_interval_s: float = Field(
        default=1.0, gt=0, le=10, description="Clips start on a keyframe: this bounds how early."
    )
    encoder: EncoderChoice = EncoderChoice.AUTO
    preset: str = Field(default="veryfast", description="libx264 preset.")


class _EncodingCamera(_CameraBase, _H264Settings):
    """A camera that gives raw frames, so the box encodes H.264 itself."""

    width: int = Field(default=1280, ge=16, le=4096)
    height: int = Field(default=720, ge=16, le=2160)
    fps: float = Field(default=30.0, gt=0, le=120)
    bitrate_kbps: int = Field(default=4000, ge=100, le=50_000)


class _EncodedCamera(_CameraBase, _H264Settings):
    """A camera that sends encoded video: its H.264 is kept, anything else is transcoded."""

    transcode: bool = Field(
        default=True,
        description="Decode and re-encode to H.264 a stream in another codec (HEVC, MJPEG, "
        "MPEG-4, VP8/VP9...): costs CPU (logged at start). False refuses such a stream, "
        "saying how to make the camera send H.264. H.264 is never re-encoded.",
    )
    transcode_bitrate_kbps: int | None = Field(
        default=None,
        ge=100,
        le=50_000,
        description="Bitrate of the transcoded H.264; default: from the stream's size and "
        "rate (about 4.4 Mbit/s at 1080p30, 2 Mbit/s at 720p30).",
    )


class PiCameraConfig(_EncodingCamera):
    """Raspberry Pi camera module through picamera2 and the hardware H.264 encoder."""

    kind: Literal["picamera"] = "picamera"
    camera_num: int = Field(default=0, ge=0, le=3)


class V4l2CameraConfig(_EncodingCamera):
    """USB / V4L2 camera through PyAV's v4l2 input: H.264 (some UVC cameras offer it) is
    kept as it comes; MJPEG and raw YUYV are decoded and encoded to H.264 on the box."""

    kind: Literal["v4l2"] = "v4l2"
    device: Path = Path("/dev/video0")
    input_format: Literal["auto", "h264", "mjpeg", "yuyv422", "nv12"] = Field(
        default="auto",
        description="What to ask the camera for: auto takes the driver's default; h264 is "
        "recorded without re-encoding (list a camera's formats: v4l2-ctl --list-formats-ext).",
    )


class TestPatternCameraConfig(_EncodingCamera):
    """Generated moving shapes with a burned-in frame counter and clock."""

    __test__ = False  # not a pytest test class, despite the name
    kind: Literal["test"] = "test"
    figures: int = Field(default=3, ge=0, le=20)
    realtime: bool = Field(
        default=True,
        description="Pace frames to the clock; false produces them as fast as they are encoded (tests, benchmarks).",
    )


class RtspCameraConfig(_EncodedCamera):
    """IP camera: its own H.264 packets are kept as they come, never re-encoded (another
    codec is transcoded unless ``transcode = false``)."""

    kind: Literal["rtsp"] = "rtsp"
    url: str = Field(min_length=1, description="rtsp://user:pass@host/stream")
    substream_url: str | None = Field(
        default=None,
        description="The camera's low-resolution H.264 stream (e.g. 640x360): detection "
        "and preview decode it and the main stream is recorded without ever being decoded. "
        "Without it, the main stream's frames that detection asks for are decoded.",
    )
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Give up connecting after this long."
    )

    @model_validator(mode="after")
    def _substream_is_another_stream(self) -> RtspCameraConfig:
        if self.substream_url is not None and self.substream_url == self.url:
            raise ValueError(
                "substream_url is the main stream's url: give the camera's low-resolution "
                "stream (often channel 102 or 'subtype=1'), or leave it out"
            )
        return self


class FileCameraConfig(_EncodedCamera):
    """A video file played in real time: the embedded default and demos. H.264 is kept;
    another codec is transcoded unless ``transcode = false``."""

    kind: Literal["file"] = "file"
    path: Path
    loop: bool = Field(
        default=True,
        description="Play the file again when it ends; false plays it once, then the camera "
        "is 'ended' (clips of what was played still work).",
    )
    realtime: bool = Field(default=True, description="Pace packets at the file's frame rate.")


CameraConfig = Annotated[
    PiCameraConfig
    | V4l2CameraConfig
    | TestPatternCameraConfig
    | RtspCameraConfig
    | FileCameraConfig,
    Field(discriminator="kind"),
]


class ClipConfig(Section):
    pre_seconds: float = Field(default=20.0, ge=0, le=300, description="Default pre-roll.")
    post_seconds: float = Field(default=10.0, ge=0, le=300, description="Default post-roll.")
    max_pre_seconds: float = Field(
        default=30.0, ge=0, le=300, description="Upper bound per trigger."
    )
    max_post_seconds: float = Field(default=60.0, ge=0, le=600)
    ring_seconds: float = Field(
        default=32.0, gt=0, le=600, description="Pre-roll kept in memory (encoded packets)."
    )
    directory: Path | None = Field(default=None, description="Default: {data_dir}/clips.")
    thumbnail_width: int = Field(default=320, ge=32, le=1920)
    write_retry_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="A clip that could not be written (disk full) is retried after this long.",
    )
    write_retries: int = Field(
        default=30,
        ge=0,
        le=1000,
        description="Attempts before a clip that cannot be written is given up (logged).",
    )

    @model_validator(mode="after")
    def _ring_holds_max_pre(self) -> ClipConfig:
        if self.pre_seconds > self.max_pre_seconds:
            raise ValueError(
                f"pre_seconds ({self.pre_seconds}) is above max_pre_seconds ({self.max_pre_seconds})"
            )
        if self.post_seconds > self.max_post_seconds:
            raise ValueError(
                f"post_seconds ({self.post_seconds}) is above max_post_seconds ({self.max_post_seconds})"
            )
        if self.ring_seconds < self.max_pre_seconds:
            raise ValueError(
                f"ring_seconds ({self.ring_seconds}) must be at least max_pre_seconds "
                f"({self.max_pre_seconds}) so that the longest pre-roll is in memory"
            )
        return self


class RecordingConfig(Section):
    """Continuous recording in short segments, for clips cut after the fact."""

    enabled: bool = False
    segment_seconds: float = Field(default=10.0, ge=1, le=600)
    quota_bytes: int = Field(default=8 * 1024**3, ge=0)
    directory: Path | None = Field(default=None, description="Default: {data_dir}/segments.")
    max_range_seconds: float = Field(
        default=600.0,
        gt=0,
        le=3600,
        description="Longest clip that clip_range cuts after the fact.",
    )
