"""Files, RTSP/IP and V4L2 cameras through PyAV: the camera's own H.264, never re-encoded.

MP4/MKV files store H.264 length-prefixed with the parameter sets out of band;
``h264_mp4toannexb`` turns that into the Annex B normal form. RTSP delivers
Annex B already, but many cameras put SPS/PPS only in the SDP, so keyframes
without them get the stream's ones in front (:class:`ParameterSets`).

A stream in another codec (HEVC, MJPEG, MPEG-4 Part 2, VP8/VP9...) is
transcoded once, on the way in (:mod:`agent.capture.sources.transcode`), unless
the camera's config forbids it: then it is refused with a fix that fits the
source (an ffmpeg command line for a file, the camera's settings for an IP
camera). What retrying cannot cure (that refusal, a missing file, a file that is
no video, a password the camera refuses) is a :class:`SourceRefused`.

Packets before the first keyframe of a session cannot start a clip and are
skipped. A file source can loop (a new :class:`StreamInfo` per pass, so that
timestamps never run backwards inside one; a transcoded file stays one session,
its encoder's timestamps simply go on) and can be paced to real time. Played
once (``loop = false``) it ends for good (:attr:`VideoSource.ends`).
"""

from __future__ import annotations

import logging
import re
import shlex
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext

from agent.capture.packets import EncodedPacket, ParameterSets, StreamInfo, avcc_to_annexb
from agent.capture.sources.base import (
    SourceError,
    SourceRefused,
    SourceStalled,
    UnsupportedStream,
    VideoSource,
)
from agent.capture.sources.clock import PresentationClock
from agent.capture.sources.transcode import Transcoder, TranscodeSettings

__all__ = ["DemuxSource", "redact_url"]

log = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://user:***@host/x``: URLs go into logs."""
    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)


_LIVE_KINDS = frozenset({"rtsp", "substream", "v4l2"})


class DemuxSource(VideoSource):
    def __init__(
        self,
        camera_id: str,
        kind: str,
        url: str | Path,
        *,
        options: dict[str, str] | None = None,
        format: str | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        loop: bool = False,
        realtime: bool = False,
        max_drift_s: float = 1.0,
        transcode: TranscodeSettings | None = None,
    ) -> None:
        """``transcode``: how to re-encode a stream that is not H.264; None refuses it."""
        super().__init__(camera_id)
        self.kind = kind
        self.ends = kind == "file" and not loop
        self._transcode = transcode
        self._transcoder: Transcoder | None = None
        self.url = str(url)
        self._shown_url = redact_url(self.url)
        self._options = options or {}
        self._format = format
        self._timeouts = (open_timeout_s, read_timeout_s)
        self._loop = loop
        self._realtime = realtime
        # A live camera is followed against the box's clock; a file replayed faster than
        # real time keeps its own timeline.
        self._clock = PresentationClock(
            max_drift_s=max_drift_s, follow_arrival=realtime or kind in _LIVE_KINDS
        )
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._info: StreamInfo | None = None
        self._annexb_extradata = b""
        self._needs_bsf = False
        self.packets_skipped = 0  # before the first keyframe, or without a timestamp

    def open(self) -> StreamInfo:
        try:
            self._container = av.open(
                self.url, format=self._format, options=self._options, timeout=self._timeouts
            )
        except (av.error.TimeoutError, av.error.ExitError) as exc:
            raise SourceStalled(
                self.camera_id, f"{self._shown_url} did not answer within {self._timeouts[0]:g} s"
            ) from exc
        except (av.FFmpegError, OSError) as exc:
            raise self._open_error(exc) from exc
        if not self._container.streams.video:
            self.close()
            raise UnsupportedStream(self.camera_id, f"{self._shown_url} has no video stream")
        stream = self._container.streams.video[0]
        self._stream = stream
        self.codec = codec = stream.codec_context.name
        if codec != "h264":
            return self._open_transcoding(stream, codec)
        raw_extradata = stream.codec_context.extradata or b""
        self._needs_bsf = bool(raw_extradata) and raw_extradata[0] == 1
        try:
            self._annexb_extradata = avcc_to_annexb(raw_extradata)
        except ValueError as exc:
            self.close()
            raise SourceError(self.camera_id, f"{self._shown_url}: {exc}") from exc
        self._info = self._new_info()
        return self._info

    def _open_error(self, exc: BaseException) -> SourceError:
        reason = f"cannot open {self._shown_url}: {_reason(exc)}"
        if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
            return SourceRefused(
                self.camera_id,
                f"{reason}: the camera refuses the user name or password; correct them in "
                "the camera's url (rtsp://user:password@host/...)",
            )
        if self.kind == "file":
            if isinstance(exc, FileNotFoundError):
                return SourceRefused(
                    self.camera_id, f"{reason}; check the camera's path (the file is not there)"
                )
            if isinstance(exc, PermissionError):
                return SourceRefused(
                    self.camera_id, f"{reason}; the agent's user may not read it (check its mode)"
                )
            if isinstance(exc, av.error.InvalidDataError):
                return SourceRefused(
                    self.camera_id, f"{reason}; it is not a video file FFmpeg can read"
                )
        return SourceError(self.camera_id, reason)

    def _open_transcoding(self, stream: av.video.stream.VideoStream, codec: str) -> StreamInfo:
        if self.kind == "substream" or self._transcode is None:
            self.close()
            raise UnsupportedStream(self.camera_id, self._refusal(codec))
        try:
            self._transcoder = Transcoder(
                self.camera_id, self.kind, stream, self._nominal_fps(stream), self._transcode
            )
        except SourceError:
            self.close()
            raise
        except (av.FFmpegError, ValueError) as exc:
            self.close()
            raise SourceError(
                self.camera_id, f"cannot set up transcoding {codec} to H.264: {exc}"
            ) from exc
        self.provides_raw_frames = True  # decoded anyway: detection gets these frames
        self._info = self._transcoder.stream_info
        return self._info

    def _refusal(self, codec: str) -> str:
        """Why a non-H.264 stream is refused, with the fix that fits the source."""
        if self.kind == "substream":
            return (
                f"{self._shown_url} sends {codec}, not H.264; set the substream's video codec "
                "to H.264 in the camera's settings (detection decodes H.264 substreams)"
            )
        if self.kind == "file":
            source = Path(self.url)
            target = source.with_name(f"{source.stem}-h264.mp4")
            command = shlex.join(
                [
                    "ffmpeg",
                    "-i",
                    str(source),
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-g",
                    "30",
                    "-an",
                    str(target),
                ]
            )
            return (
                f"{self._shown_url} is {codec}, not H.264, and transcoding is off for this "
                f"camera: set transcode = true, or convert the file once: {command}"
            )
        return (
            f"{self._shown_url} sends {codec}, not H.264, and transcoding is off for this "
            "camera: set this stream's video codec to H.264 in the camera's settings page "
            "(Video / Encoding), or set transcode = true to let the box transcode it"
        )

    @staticmethod
    def _nominal_fps(stream: av.video.stream.VideoStream) -> float:
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        fps = float(rate)
        return fps if 0 < fps <= 240 else 30.0

    def _new_info(self) -> StreamInfo:
        assert self._stream is not None
        stream = self._stream
        return StreamInfo(
            camera_id=self.camera_id,
            codec="h264",
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=self._nominal_fps(stream),
            time_base=stream.time_base or Fraction(1, 90_000),
            extradata=self._annexb_extradata,
            kind=self.kind,
        )

    def packets(self) -> Iterator[EncodedPacket]:
        assert self._container is not None and self._stream is not None and self._info is not None
        if self._transcoder is not None:
            yield from self._transcoded(self._transcoder)
            return
        timeline_base = 0.0  # seconds of earlier passes of a looped file
        paced_from = time.monotonic()
        while True:
            info = self._info
            last_end = 0.0
            for packet, first_pts in self._pass():
                seconds = float((packet.pts - first_pts) * info.time_base)
                position = timeline_base + seconds
                if self._realtime:
                    # Paced in decode order, as a camera sends (B-frames: dts before pts).
                    sent = float((packet.dts - first_pts) * info.time_base)
                    if not self._wait_until(paced_from + timeline_base + sent):
                        return
                duration = packet.duration or 0
                shown_until = seconds + (
                    float(duration * info.time_base) if duration else 1 / info.fps
                )
                last_end = max(
                    last_end, shown_until
                )  # B-frames: the last sent is not the last shown
                yield EncodedPacket(
                    data=packet.data,
                    pts=packet.pts,
                    dts=packet.dts,
                    duration=duration,
                    is_keyframe=packet.is_keyframe,
                    captured_at=self._clock.wall_time(position, time.time()),
                    stream=info,
                )
                if self.stop_event.is_set():
                    return
            if not self._loop or self.stop_event.is_set():
                return
            timeline_base += last_end
            self._rewind()

    def _transcoded(self, transcoder: Transcoder) -> Iterator[EncodedPacket]:
        """Decode, pace, re-encode: every frame of every pass, as one encoded session."""
        assert self._container is not None and self._stream is not None
        time_base = self._stream.time_base or Fraction(1, 90_000)
        fps = transcoder.stream_info.fps
        timeline_base = 0.0
        paced_from = time.monotonic()
        index = 0
        while True:
            first_pts: int | None = None
            last_end = 0.0
            counted = 0  # frames of this pass, for sources without timestamps
            for raw in self._demux(self._stream):
                frames = transcoder.decode(raw) if raw is not None else transcoder.decode(None)
                for frame in frames:
                    if frame.pts is None:
                        seconds = counted / fps
                    else:
                        if first_pts is None:
                            first_pts = frame.pts
                        seconds = float((frame.pts - first_pts) * time_base)
                    counted += 1
                    position = timeline_base + seconds
                    if self._realtime and not self._wait_until(paced_from + position):
                        return
                    last_end = max(last_end, seconds + 1 / fps)
                    captured_at = self._clock.wall_time(position, time.time())
                    yield from transcoder.encode(frame, captured_at, self.outlet, index)
                    index += 1
                    if self.stop_event.is_set():
                        return
            if not self._loop or self.stop_event.is_set():
                break
            timeline_base += last_end
            self._container.seek(0)
            transcoder.restart()
        if not self.stop_event.is_set():
            yield from transcoder.flush()

    def _demux(self, stream: av.video.stream.VideoStream) -> Iterator[av.Packet | None]:
        """The stream's packets, FFmpeg's errors as source errors; None once at the end."""
        try:
            for packet in self._container_or_fail().demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's own end marker: drained below
                yield packet
        except (av.error.TimeoutError, av.error.ExitError) as exc:
            # PyAV's read timeout interrupts FFmpeg, which reports it as an "exit".
            raise SourceStalled(
                self.camera_id,
                f"no video from {self._shown_url} for {self._timeouts[1]:g} s ({_reason(exc)})",
            ) from exc
        except av.error.EOFError:
            pass
        except av.FFmpegError as exc:
            raise SourceError(
                self.camera_id, f"bad data from {self._shown_url}: {_reason(exc)}"
            ) from exc
        yield None

    def _container_or_fail(self) -> av.container.InputContainer:
        assert self._container is not None
        return self._container

    def _pass(self) -> Iterator[tuple[_Normalised, int]]:
        """One pass over the input: normal-form packets with the pass's first pts."""
        assert self._container is not None and self._stream is not None
        bsf = BitStreamFilterContext("h264_mp4toannexb", self._stream) if self._needs_bsf else None
        parameter_sets = ParameterSets(self._annexb_extradata)
        first_pts: int | None = None
        for raw in self._demux(self._stream):
            if raw is None:
                return
            for packet in bsf.filter(raw) if bsf is not None else [raw]:
                if packet.size == 0 or packet.pts is None:
                    if packet.size:
                        self.packets_skipped += 1
                    continue
                key = bool(packet.is_keyframe)
                if first_pts is None:
                    if not key:
                        self.packets_skipped += 1
                        continue
                    first_pts = packet.pts
                yield (
                    _Normalised(
                        parameter_sets.normalise(bytes(packet), key),
                        packet.pts,
                        packet.dts if packet.dts is not None else packet.pts,
                        packet.duration or 0,
                        key,
                    ),
                    first_pts,
                )

    def _rewind(self) -> None:
        assert self._container is not None
        self._container.seek(0)
        self._info = self._new_info()  # timestamps restart: a new stream session

    def _wait_until(self, deadline: float) -> bool:
        delay = deadline - time.monotonic()
        if delay > 0:
            return not self.stop_event.wait(delay)
        return not self.stop_event.is_set()

    @property
    def encoder_name(self) -> str | None:
        return self._transcoder.encoder.name if self._transcoder is not None else None

    @property
    def cpu_percent(self) -> float | None:
        return self._transcoder.cpu_percent if self._transcoder is not None else None

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            finally:
                self._container = None
                self._stream = None


class _Normalised:
    __slots__ = ("data", "dts", "duration", "is_keyframe", "pts")

    def __init__(self, data: bytes, pts: int, dts: int, duration: int, is_keyframe: bool) -> None:
        self.data = data
        self.pts = pts
        self.dts = dts
        self.duration = duration
        self.is_keyframe = is_keyframe


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text)
