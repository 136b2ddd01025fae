"""What a device says about itself: status (retained), heartbeats, command acks."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field

from protocol.data import JsonData
from protocol.envelope import Message, WireModel
from protocol.ids import Segment
from protocol.times import UtcDateTime

__all__ = [
    "AckStatus",
    "Backlog",
    "CameraHealth",
    "CameraState",
    "CameraSummary",
    "ClipLimits",
    "ClockHealth",
    "CommandAck",
    "DetectionHealth",
    "DeviceState",
    "Heartbeat",
    "Status",
    "StreamHealth",
]


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class CameraSummary(WireModel):
    camera_id: Segment
    kind: str = Field(max_length=32, description="Source kind: picamera, rtsp, file, v4l2, test.")
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    fps: float | None = Field(default=None, gt=0)


class ClipLimits(WireModel):
    """What the device accepts for a clip it cuts from its recording (``clip_range``)."""

    max_lag_s: float = Field(ge=0, description="How far ahead a range may end.")
    max_range_s: float = Field(gt=0, description="The longest range.")
    max_pre_s: float = Field(ge=0, description="The longest pre-roll of a trigger_clip.")
    max_post_s: float = Field(ge=0, description="The longest post-roll of a trigger_clip.")


class Status(Message):
    """Retained on the status channel. The last will carries ``state='offline'``."""

    state: DeviceState
    since: UtcDateTime | None = Field(
        default=None, description="When the state began; empty in the last will (use receive time)."
    )
    reason: str | None = Field(default=None, max_length=200)
    agent_version: str | None = Field(default=None, max_length=64)
    cameras: list[CameraSummary] = Field(default_factory=list)
    clip_limits: ClipLimits | None = None


class CameraState(StrEnum):
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"  # transient (network, a camera rebooting): retried with backoff
    REFUSED = "refused"  # retrying cannot cure it (codec, file, password): ``reason`` says what
    ENDED = "ended"  # a file camera played once (loop = false)
    STOPPED = "stopped"


class StreamHealth(WireModel):
    """One video stream of a camera, as its capture loop sees it."""

    state: CameraState
    fps: float = Field(ge=0, description="Frames per second over the last interval.")
    frames_captured: int = Field(ge=0, description="Since the agent started.")
    frames_dropped: int = Field(ge=0)
    reconnects: int = Field(ge=0)
    gap_seconds: float = Field(default=0.0, ge=0, description="Total time without frames.")
    last_frame_at: UtcDateTime | None = None
    codec: str | None = Field(
        default=None,
        max_length=32,
        description="What the camera sends: h264 (kept as it is, never re-encoded), another "
        "codec such as hevc, mjpeg or mpeg4 (transcoded: see encoder), or raw frames.",
    )
    encoder: str | None = Field(
        default=None,
        max_length=32,
        description="The H.264 encoder the box runs for this stream (libx264, h264_v4l2m2m, "
        "h264_nvmpi) when it transcodes another codec or encodes raw frames; absent when the "
        "camera's own H.264 is kept.",
    )
    encode_cpu_percent: float | None = Field(
        default=None,
        ge=0,
        description="Share of one CPU core spent decoding and encoding this stream, over the "
        "last seconds of video; absent when nothing is encoded.",
    )
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why the stream is not streaming: a refusal with what to change, the last "
        "error while reconnecting, or how a file ended.",
    )
    retry_at: UtcDateTime | None = Field(
        default=None, description="When a refused or reconnecting stream is tried again."
    )


class CameraHealth(StreamHealth):
    """A camera's main (recorded) stream, and its detection substream if it has one."""

    camera_id: Segment
    substream: StreamHealth | None = Field(
        default=None,
        description="The low-resolution stream detection reads (RTSP substream_url); "
        "absent when detection reads the main stream.",
    )
    recording: bool | None = Field(default=None, description="Continuous recording is on.")
    recorded_from: UtcDateTime | None = Field(
        default=None,
        description="The oldest video on the device (recorded segments or memory): "
        "how far back a clip_range can reach now.",
    )


class DetectionHealth(WireModel):
    camera_id: Segment
    enabled: bool
    fps: float = Field(ge=0, description="Inferences per second achieved.")
    inferences: int = Field(ge=0)
    skipped_still: int = Field(ge=0, description="Frames the motion gate found still.")
    skipped_busy: int = Field(ge=0, description="Frames skipped because inference was busy.")
    frames_decoded: int = Field(
        default=0,
        ge=0,
        description="Frames decoded only for detection: the main stream's on a single-stream "
        "camera, the substream's where the camera has one (substream_url).",
    )
    inference_ms_p50: float | None = Field(default=None, ge=0)


class Backlog(WireModel):
    """What waits in the device's store for the cloud's receipt."""

    logs: int = Field(ge=0)
    clips: int = Field(ge=0)
    events: int = Field(ge=0)
    clip_bytes: int = Field(ge=0)
    oldest_unsynced_age_s: float | None = Field(default=None, ge=0)


class ClockHealth(WireModel):
    synced: bool | None = Field(default=None, description="NTP synchronised, when readable.")
    offset_ms: float | None = None
    source: str | None = Field(default=None, max_length=64)


class Heartbeat(Message):
    uptime_s: float = Field(ge=0)
    agent_version: str | None = Field(default=None, max_length=64)
    cameras: list[CameraHealth] = Field(default_factory=list)
    detection: list[DetectionHealth] = Field(default_factory=list)
    cpu_percent: float | None = Field(default=None, ge=0)
    load_1m: float | None = Field(default=None, ge=0)
    memory_rss_bytes: int | None = Field(default=None, ge=0)
    soc_temp_c: float | None = None
    throttled: bool | None = Field(default=None, description="Under-voltage/thermal throttling.")
    disk_free_bytes: int = Field(ge=0)
    disk_total_bytes: int = Field(ge=0)
    backlog: Backlog
    evicted_unsynced_clips: int = Field(
        default=0, ge=0, description="Unsynced clips dropped for disk space since start."
    )
    evicted_unsynced_bytes: int = Field(default=0, ge=0)
    clock: ClockHealth = Field(default_factory=ClockHealth)


class AckStatus(StrEnum):
    ACCEPTED = "accepted"  # understood and started (e.g. clip recording its post-roll)
    DONE = "done"  # finished; ``result`` says what came of it
    REFUSED = "refused"  # not carried out: expired, duplicate, wrong device, unknown camera
    FAILED = "failed"  # tried and failed


class CommandAck(Message):
    command_id: UUID
    status: AckStatus
    reason: str | None = Field(default=None, max_length=500)
    result: JsonData = Field(
        default_factory=dict, description="e.g. {'clip_ids': [...]} for a clip command."
    )
