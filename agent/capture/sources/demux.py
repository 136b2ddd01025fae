"""Files and RTSP/IP cameras through PyAV: the camera's own H.264 packets, never re-encoded.

MP4/MKV files store H.264 length-prefixed with the parameter sets out of band;
``h264_mp4toannexb`` turns that into the Annex B normal form. RTSP delivers
Annex B already, but many cameras put SPS/PPS only in the SDP, so keyframes
without them get the stream's ones in front (:class:`ParameterSets`).

Packets before the first keyframe of a session cannot start a clip and are
skipped. A file source can loop (a new :class:`StreamInfo` per pass, so that
timestamps never run backwards inside one) and can be paced to real time.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext

from agent.capture.packets import EncodedPacket, ParameterSets, StreamInfo, avcc_to_annexb
from agent.capture.sources.base import SourceError, SourceStalled, UnsupportedStream, VideoSource
from agent.capture.sources.clock import PresentationClock

__all__ = ["DemuxSource", "redact_url"]

log = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://user:***@host/x``: URLs go into logs."""
    return re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)


_LIVE_KINDS = frozenset({"rtsp", "substream"})


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
    ) -> None:
        super().__init__(camera_id)
        self.kind = kind
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
            raise SourceError(
                self.camera_id, f"cannot open {self._shown_url}: {_reason(exc)}"
            ) from exc
        if not self._container.streams.video:
            self.close()
            raise UnsupportedStream(self.camera_id, f"{self._shown_url} has no video stream")
        stream = self._container.streams.video[0]
        codec = stream.codec_context.name
        if codec != "h264":
            self.close()
            why = (
                "detection decodes H.264 substreams"
                if self.kind == "substream"
                else "clips are stream-copied, never re-encoded"
            )
            raise UnsupportedStream(
                self.camera_id,
                f"{self._shown_url} sends {codec}, not H.264; set this stream's video codec "
                f"to H.264 in the camera's settings ({why})",
            )
        raw_extradata = stream.codec_context.extradata or b""
        self._needs_bsf = bool(raw_extradata) and raw_extradata[0] == 1
        try:
            self._annexb_extradata = avcc_to_annexb(raw_extradata)
        except ValueError as exc:
            self.close()
            raise SourceError(self.camera_id, f"{self._shown_url}: {exc}") from exc
        self._stream = stream
        self._info = self._new_info()
        return self._info

    def _new_info(self) -> StreamInfo:
        assert self._stream is not None
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        return StreamInfo(
            camera_id=self.camera_id,
            codec="h264",
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=float(rate),
            time_base=stream.time_base or Fraction(1, 90_000),
            extradata=self._annexb_extradata,
            kind=self.kind,
        )

    def packets(self) -> Iterator[EncodedPacket]:
        assert self._container is not None and self._stream is not None and self._info is not None
        timeline_base = 0.0  # seconds of earlier passes of a looped file
        paced_from = time.monotonic()
        while True:
            info = self._info
            last_end = 0.0
            for packet, first_pts in self._pass():
                seconds = float((packet.pts - first_pts) * info.time_base)
                position = timeline_base + seconds
                if self._realtime and not self._wait_until(paced_from + position):
                    return
                duration = packet.duration or 0
                last_end = (
                    seconds + float(duration * info.time_base)
                    if duration
                    else seconds + 1 / info.fps
                )
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

    def _pass(self) -> Iterator[tuple[_Normalised, int]]:
        """One pass over the input: normal-form packets with the pass's first pts."""
        assert self._container is not None and self._stream is not None
        bsf = BitStreamFilterContext("h264_mp4toannexb", self._stream) if self._needs_bsf else None
        parameter_sets = ParameterSets(self._annexb_extradata)
        first_pts: int | None = None
        try:
            for raw in self._container.demux(self._stream):
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
        except (av.error.TimeoutError, av.error.ExitError) as exc:
            # PyAV's read timeout interrupts FFmpeg, which reports it as an "exit".
            raise SourceStalled(
                self.camera_id,
                f"no video from {self._shown_url} for {self._timeouts[1]:g} s ({_reason(exc)})",
            ) from exc
        except av.error.EOFError:
            return
        except av.FFmpegError as exc:
            raise SourceError(
                self.camera_id, f"bad data from {self._shown_url}: {_reason(exc)}"
            ) from exc

    def _rewind(self) -> None:
        assert self._container is not None
        self._container.seek(0)
        self._info = self._new_info()  # timestamps restart: a new stream session

    def _wait_until(self, deadline: float) -> bool:
        delay = deadline - time.monotonic()
        if delay > 0:
            return not self.stop_event.wait(delay)
        return not self.stop_event.is_set()

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
