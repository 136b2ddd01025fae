"""A stream in another codec than H.264, decoded and encoded to H.264 once, on the way in.

Many IP cameras ship with H.265 as their default, USB webcams often give only
MJPEG, and files come in every codec (an old camera's MPEG-4 Part 2 AVI, a
phone's HEVC, a VP8/VP9 WebM). :class:`Transcoder` decodes the demuxer's
packets with FFmpeg's decoder for that codec and encodes every frame with
:class:`agent.capture.sources.encoder.H264Encoder` (the box's hardware encoder
where one works, libx264 otherwise), so that the ring, clips and recording see
the same normal-form H.264 as from any other camera. The decoded frames go to
detection's outlet as they pass, so a transcoded camera is never decoded twice.

What it costs is measured, not guessed (:class:`agent.capture.sources.cpu.CodecCpu`):
the decoder's and encoder's threads' CPU time over the seconds of video handled,
logged once after a few seconds ("camera gate is transcoded from hevc with
libx264: about 41 % of a core at 1920x1080 30 fps") and kept for the heartbeat.

A packet the decoder cannot read (a stream joined mid-GOP, a lost RTP packet) is
skipped and counted; only a long run of them fails the source (transient: the
runner reconnects). A pixel format that cannot be converted to 4:2:0 is a
:class:`SourceRefused`, as retrying would not change it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import av

from agent.capture.config import EncoderChoice
from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.sources.base import RawFrameOutlet, SourceError, SourceRefused
from agent.capture.sources.cpu import CodecCpu, CpuRate
from agent.capture.sources.encoder import EncoderSettings, H264Encoder, default_bitrate_kbps

__all__ = ["TranscodeSettings", "Transcoder"]

log = logging.getLogger(__name__)

#: This many packets in a row that do not decode fail the source (about 3 s at 30 fps).
_MAX_BAD_PACKETS = 90


@dataclass(frozen=True, slots=True)
class TranscodeSettings:
    """How a camera's non-H.264 stream is re-encoded (``transcode_*`` in its config)."""

    keyframe_interval_s: float = 1.0
    bitrate_kbps: int | None = None  # None: from the stream's size and frame rate
    preset: str = "veryfast"
    choice: EncoderChoice = EncoderChoice.AUTO


class Transcoder:
    """Decodes one stream's packets and re-encodes its frames as H.264.

    Built inside the source's ``open()`` on the capture thread (so that the codecs'
    threads are counted as this camera's); fed with :meth:`decode` and :meth:`encode`.
    """

    def __init__(
        self,
        camera_id: str,
        kind: str,
        stream: av.video.stream.VideoStream,
        fps: float,
        settings: TranscodeSettings,
    ) -> None:
        self.camera_id = camera_id
        self.codec = stream.codec_context.name
        self.meter = CodecCpu()
        self.rate = CpuRate(self.meter)
        # Even sizes: 4:2:0 H.264 has no odd width or height.
        width = stream.codec_context.width & ~1
        height = stream.codec_context.height & ~1
        if width <= 0 or height <= 0:
            raise SourceRefused(
                camera_id, f"sends {self.codec} without a frame size; cannot transcode it"
            )
        with self.meter.opening():
            decoder = stream.codec_context
            decoder.thread_type = "AUTO"  # frame threads: a 1080p HEVC stream needs them
            self.decoder = decoder
            self.encoder = H264Encoder(
                camera_id,
                kind,
                EncoderSettings(
                    width=width,
                    height=height,
                    fps=fps,
                    keyframe_interval_s=settings.keyframe_interval_s,
                    bitrate_kbps=settings.bitrate_kbps or default_bitrate_kbps(width, height, fps),
                    preset=settings.preset,
                    choice=settings.choice,
                ),
            )
        self.stream_info: StreamInfo = self.encoder.stream
        self.bad_packets = 0
        self._bad_in_a_row = 0
        self._first_video_s: float | None = None
        self._reported = False
        log.info(
            "camera %s: %s %s to H.264 with %s (%dx%d at %.3g fps, %d kbit/s)",
            camera_id,
            "encoding" if self.codec == "rawvideo" else "transcoding",
            _described(self.codec, stream),
            self.encoder.name,
            width,
            height,
            fps,
            self.encoder.settings.bitrate_kbps,
        )

    @property
    def cpu_percent(self) -> float | None:
        return self.rate.percent

    def decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        """Frames the packet completes (None drains the decoder); unreadable packets are skipped."""
        try:
            frames = [f for f in self.decoder.decode(packet) if isinstance(f, av.VideoFrame)]
        except av.error.EOFError:
            return []
        except av.FFmpegError as exc:
            self.bad_packets += 1
            self._bad_in_a_row += 1
            if self._bad_in_a_row >= _MAX_BAD_PACKETS:
                raise SourceError(
                    self.camera_id,
                    f"{self._bad_in_a_row} {self.codec} packets in a row could not be decoded "
                    f"({exc})",
                ) from exc
            return []
        if frames:
            self._bad_in_a_row = 0
        return frames

    def restart(self) -> None:
        """After a seek (a file's next pass): forget the decoder's references."""
        self.decoder.flush_buffers()

    def encode(
        self, frame: av.VideoFrame, captured_at: float, outlet: RawFrameOutlet, index: int
    ) -> Iterator[EncodedPacket]:
        if outlet.wants_frame(captured_at):
            outlet.put_frame(frame, captured_at, index)
        try:
            packets = self.encoder.encode(frame, captured_at)
        except ValueError as exc:  # swscale cannot convert this pixel format
            raise SourceRefused(
                self.camera_id,
                f"sends {self.codec} frames in pixel format {frame.format.name}, which cannot "
                f"be converted to H.264's 4:2:0 ({exc}); choose another format in the camera's "
                "settings",
            ) from exc
        except av.FFmpegError as exc:
            raise SourceError(self.camera_id, f"the H.264 encoder failed: {exc}") from exc
        self._account(captured_at)
        yield from packets

    def flush(self) -> list[EncodedPacket]:
        return self.encoder.flush()

    def _account(self, captured_at: float) -> None:
        if self._first_video_s is None:
            self._first_video_s = captured_at
        video_s = captured_at - self._first_video_s
        percent = self.rate.update(video_s)
        if percent is not None and not self._reported:
            self._reported = True
            s = self.encoder.settings
            log.info(
                "camera %s is %s %s with %s: about %.0f %% of a core at %dx%d %.3g fps",
                self.camera_id,
                "encoded from" if self.codec == "rawvideo" else "transcoded from",
                self.codec,
                self.encoder.name,
                percent,
                s.width,
                s.height,
                s.fps,
            )


def _described(codec: str, stream: av.video.stream.VideoStream) -> str:
    """``hevc``, or for raw frames their pixel format (``rawvideo yuyv422``)."""
    if codec == "rawvideo":
        return f"raw {stream.codec_context.pix_fmt or 'video'}"
    return codec
