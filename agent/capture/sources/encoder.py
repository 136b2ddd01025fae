"""H.264 encoding with PyAV: a hardware encoder where one works, else libx264.

Sources that give raw frames (USB/V4L2 cameras, the test pattern) encode, and so
do cameras and files in another codec than H.264 (transcoded once, on the way
in); a camera's own H.264 is always kept. ``auto`` tries the hardware encoders in
:data:`HARDWARE_ENCODERS` order (a Jetson's ``h264_nvmpi``, present only where
PyAV is built on an FFmpeg with jetson-ffmpeg; a Pi 4's ``h264_v4l2m2m``) by
really encoding a few frames, and falls back to libx264. The encoder is set up for live
capture: no B-frames and no look-ahead (a frame leaves the encoder as soon as
it is encoded, so a clip's last second is not held back), a keyframe at a fixed
interval with scene-cut keyframes off (pre-roll starts on a keyframe, so the
interval bounds how much earlier than asked a clip can start), SPS/PPS repeated
on every keyframe, and a VBV cap so that the ring's size follows the bitrate.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from fractions import Fraction

import av
from av.video.frame import PictureType

from agent.capture.config import EncoderChoice
from agent.capture.packets import EncodedPacket, ParameterSets, StreamInfo

__all__ = [
    "HARDWARE_ENCODERS",
    "TIME_BASE",
    "EncoderSettings",
    "H264Encoder",
    "choose_encoder",
    "codec_options",
    "default_bitrate_kbps",
    "encoder_works",
    "open_context",
]

log = logging.getLogger(__name__)

#: Encoded packets of raw sources are timed in 90 kHz ticks from the capture clock.
TIME_BASE = Fraction(1, 90_000)

#: Tried in this order by ``encoder = "auto"``; the first that really encodes is used.
HARDWARE_ENCODERS = (EncoderChoice.NVMPI, EncoderChoice.V4L2M2M)


def default_bitrate_kbps(width: int, height: int, fps: float) -> int:
    """About 0.07 bit per pixel: 4.4 Mbit/s at 1080p30, 1.9 at 720p30, what IP cameras send."""
    return max(300, min(20_000, round(width * height * fps * 0.07 / 1000)))


class EncoderSettings:
    def __init__(
        self,
        *,
        width: int,
        height: int,
        fps: float,
        keyframe_interval_s: float,
        bitrate_kbps: int,
        preset: str = "veryfast",
        choice: EncoderChoice = EncoderChoice.AUTO,
    ) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.gop = max(1, round(fps * keyframe_interval_s))
        self.bitrate_kbps = bitrate_kbps
        self.preset = preset
        self.choice = choice


def codec_options(name: str, settings: EncoderSettings) -> dict[str, str]:
    """The private options of each encoder for live capture (see the module's docstring)."""
    kbps = settings.bitrate_kbps
    if name == EncoderChoice.LIBX264:
        return {
            "preset": settings.preset,
            "tune": "zerolatency",
            "x264-params": (
                f"keyint={settings.gop}:min-keyint={settings.gop}:scenecut=0:bframes=0:"
                f"repeat-headers=1:vbv-maxrate={kbps}:vbv-bufsize={kbps}"
            ),
        }
    if name == EncoderChoice.NVMPI:
        # jetson-ffmpeg's encoder: SPS/PPS before every IDR unless global headers are asked
        # for (they are not); constant bitrate, so the ring's size follows the bitrate.
        return {"preset": "fast", "profile": "high", "rc": "cbr"}
    return {}


def open_context(name: str, settings: EncoderSettings) -> av.VideoCodecContext:
    """An open encoder ``name`` set up for live capture (benchmarks time it bare)."""
    context = av.CodecContext.create(name, "w")
    assert isinstance(context, av.VideoCodecContext)
    context.width = settings.width
    context.height = settings.height
    context.pix_fmt = "yuv420p"
    context.time_base = TIME_BASE
    context.framerate = Fraction(settings.fps).limit_denominator(1001)
    context.gop_size = settings.gop
    context.max_b_frames = 0
    context.bit_rate = settings.bitrate_kbps * 1000
    options = codec_options(name, settings)
    if options:
        context.options = options
    context.open()
    return context


@functools.lru_cache(maxsize=8)
def encoder_works(name: str, width: int, height: int) -> bool:
    """Open ``name`` and encode a couple of frames: the only honest test of a hardware encoder
    (``h264_v4l2m2m`` is compiled into PyAV everywhere but works only where the kernel has
    a mem-to-mem H.264 device, e.g. a Raspberry Pi 4)."""
    import numpy as np  # only boxes that encode need it

    settings = EncoderSettings(
        width=width, height=height, fps=30, keyframe_interval_s=1, bitrate_kbps=1000
    )
    try:
        context = open_context(name, settings)
        frame = av.VideoFrame.from_ndarray(
            np.full((height * 3 // 2, width), 128, dtype=np.uint8), format="yuv420p"
        )
        produced = 0
        for index in range(3):
            frame.pts = index * 3000
            produced += len(context.encode(frame))
        produced += len(context.encode(None))
        return produced > 0
    except Exception as exc:  # any failure means "not usable here"
        log.debug("encoder %s does not work here: %s", name, exc)
        return False


def choose_encoder(
    camera_id: str,
    choice: EncoderChoice,
    width: int,
    height: int,
    works: Callable[[str, int, int], bool] = encoder_works,
) -> str:
    """The encoder to use: the configured hardware one if it works, the first working one
    of :data:`HARDWARE_ENCODERS` for ``auto``, else libx264 (said in the log)."""
    if choice is EncoderChoice.LIBX264:
        return EncoderChoice.LIBX264.value
    candidates = HARDWARE_ENCODERS if choice is EncoderChoice.AUTO else (choice,)
    for candidate in candidates:
        if works(candidate.value, width, height):
            return candidate.value
    if choice is not EncoderChoice.AUTO:
        log.warning(
            "camera %s: %s is configured but does not work on this box; using libx264",
            camera_id,
            choice.value,
        )
    return EncoderChoice.LIBX264.value


class H264Encoder:
    """Encodes one camera's raw frames into normal-form :class:`EncodedPacket` objects."""

    def __init__(self, camera_id: str, kind: str, settings: EncoderSettings) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.name = self._choose(settings)
        self._context = open_context(self.name, settings)
        self._parameter_sets = ParameterSets()
        self._origin: float | None = None
        self._last_pts = -1
        self.stream = StreamInfo(
            camera_id=camera_id,
            codec="h264",
            width=settings.width,
            height=settings.height,
            fps=settings.fps,
            time_base=TIME_BASE,
            kind=kind,
        )

    def _choose(self, settings: EncoderSettings) -> str:
        return choose_encoder(self.camera_id, settings.choice, settings.width, settings.height)

    def encode(self, frame: av.VideoFrame, captured_at: float) -> list[EncodedPacket]:
        """Encode one frame captured at ``captured_at`` (UTC seconds)."""
        s = self.settings
        if frame.format.name != "yuv420p" or frame.width != s.width or frame.height != s.height:
            frame = frame.reformat(width=s.width, height=s.height, format="yuv420p")
        if self._origin is None:
            self._origin = captured_at
        pts = round((captured_at - self._origin) * 90_000)
        if pts <= self._last_pts:  # a clock that did not move: keep timestamps increasing
            pts = self._last_pts + 1
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = TIME_BASE
        # A decoded frame keeps its source's picture type, and libx264 would make every
        # source I-frame (every MJPEG frame) a keyframe: the interval is ours to set.
        frame.pict_type = PictureType.NONE
        return self._wrap(self._context.encode(frame))

    def flush(self) -> list[EncodedPacket]:
        try:
            return self._wrap(self._context.encode(None))
        except av.error.EOFError:
            return []

    def _wrap(self, packets: list[av.Packet]) -> list[EncodedPacket]:
        out = []
        origin = self._origin or 0.0
        for packet in packets:
            if packet.pts is None:
                continue
            key = bool(packet.is_keyframe)
            out.append(
                EncodedPacket(
                    data=self._parameter_sets.normalise(bytes(packet), key),
                    pts=packet.pts,
                    dts=packet.dts if packet.dts is not None else packet.pts,
                    duration=packet.duration or round(90_000 / self.settings.fps),
                    is_keyframe=key,
                    captured_at=origin + packet.pts / 90_000,
                    stream=self.stream,
                )
            )
        return out
