"""One camera's capture loop: open, read packets, hand them on, reopen when it fails.

:class:`CameraRunner` owns its thread's loop (:meth:`run`) and a stop event.
A source that cannot be opened, disconnects, stalls or sends garbage raises a
:class:`SourceError`; the runner logs it with the camera's id, waits a jittered
exponential backoff (``reconnect_min_s`` doubling up to ``reconnect_max_s``,
each wait drawn from 50-100 % of that, so that several cameras behind one
flaky switch do not reconnect in lock-step) and reopens. The backoff resets
once video flows again. The time without video is logged and added to
``gap_seconds``; frames missing inside a stream (timestamp jumps) are counted
as dropped.

Per packet, on the capture thread: the ring, the packet listeners (segment
recorder), then the frame tap; all of them return at once.

A camera with a substream for detection has two runners: the main one
(``feeds_tap=False``: its packets are recorded, never decoded) and one for the
substream (no ring: its packets only go to the frame tap), named ``"<camera> substream"``
so that its log lines say which stream failed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from agent.capture.clips.files import utc_from_seconds
from agent.capture.frametap import FrameTap
from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.ring import PacketRing
from agent.capture.sources.base import SourceError, VideoSource
from protocol import CameraHealth, CameraState, StreamHealth

__all__ = ["CameraRunner", "PacketListener"]

log = logging.getLogger(__name__)


class PacketListener(Protocol):
    def on_packet(self, packet: EncodedPacket) -> None:
        """Take the packet; never block the capture thread."""


class CameraRunner:
    def __init__(
        self,
        camera_id: str,
        make_source: Callable[[], VideoSource],
        ring: PacketRing | None,
        tap: FrameTap,
        *,
        listeners: Sequence[PacketListener] = (),
        feeds_tap: bool = True,
        name: str | None = None,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.name = name or camera_id  # what log lines call it
        self._make_source = make_source
        self.ring = ring
        self.tap = tap
        self._listeners = list(listeners)
        self._feeds_tap = feeds_tap
        self._min = reconnect_min_s
        self._max = max(reconnect_max_s, reconnect_min_s)
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._source: VideoSource | None = None
        self._state = CameraState.STOPPED
        self.stream: StreamInfo | None = None
        self.last_error: str | None = None
        self.frames_captured = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self.failures = 0
        self.gap_seconds = 0.0
        self._last_packet_wall: float | None = None
        self._last_packet_mono = time.monotonic()
        self._outage_since: float | None = None
        self._previous: EncodedPacket | None = None
        self._rate_mark = (time.monotonic(), 0)
        self._fps = 0.0
        self._codec: str | None = None
        self._encoder: str | None = None
        self._cpu_percent: float | None = None

    def add_listener(self, listener: PacketListener) -> None:
        self._listeners.append(listener)

    # -- loop -------------------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            source = self._make_source()
            if self._feeds_tap:  # sources that decode anyway (raw, transcoded) hand frames over
                source.outlet = self.tap
            self._source = source
            delivered = False
            try:
                self.stream = source.open()
                if self._stop.is_set():
                    break
                self._codec, self._encoder = source.codec, source.encoder_name
                log.info(
                    "camera %s: %s source open: %dx%d at %.3g fps, %s",
                    self.name,
                    source.kind,
                    self.stream.width,
                    self.stream.height,
                    self.stream.fps,
                    f"{source.codec} transcoded with {self._encoder}"
                    if self._encoder and source.codec not in (None, "rawvideo")
                    else f"encoded with {self._encoder}"
                    if self._encoder
                    else f"{source.codec} kept as it is",
                )
                self._last_packet_mono = time.monotonic()
                self._state = CameraState.STREAMING
                for packet in source.packets():
                    if not delivered:
                        delivered = True
                        attempt = 0
                        self._video_back()
                    self._handle(packet)
                    if self._stop.is_set():
                        break
                else:
                    if not self._stop.is_set():
                        self._failed(f"camera {self.name}: {source.kind} source ended", ended=True)
            except SourceError as exc:
                self._failed(str(exc))
            except Exception as exc:  # a bug or a library surprise must not end capture
                log.exception("camera %s: unexpected error in capture", self.name)
                self._failed(f"camera {self.name}: unexpected {type(exc).__name__}: {exc}")
            finally:
                try:
                    source.close()
                except Exception:
                    log.exception("camera %s: error closing the source", self.name)
                self._source = None
            if self._stop.is_set():
                break
            self._state = CameraState.RECONNECTING
            delay = min(self._max, self._min * 2**attempt) * self._rng.uniform(0.5, 1.0)
            attempt += 1
            log.info("camera %s: reopening in %.1f s", self.name, delay)
            self._stop.wait(delay)
            self.reconnects += 1
        self._state = CameraState.STOPPED

    def stop(self) -> None:
        self._stop.set()
        source = self._source
        if source is not None:
            source.request_stop()

    def _failed(self, reason: str, *, ended: bool = False) -> None:
        self.failures += 1
        self.last_error = reason
        if self._outage_since is None:
            self._outage_since = self._last_packet_wall or time.time()
        (log.info if ended else log.error)("%s", reason)
        self._previous = None

    def _video_back(self) -> None:
        if self._outage_since is not None:
            gap = max(0.0, time.time() - self._outage_since)
            self.gap_seconds += gap
            log.warning("camera %s: video back after a %.1f s gap", self.name, gap)
            self._outage_since = None

    # -- per packet (capture thread) ------------------------------------------------------

    def _handle(self, packet: EncodedPacket) -> None:
        self._count_drops(packet)
        self.frames_captured += 1
        self._last_packet_wall = time.time()
        self._last_packet_mono = time.monotonic()
        if self.ring is not None:
            self.ring.append(packet)
        for listener in self._listeners:
            listener.on_packet(packet)
        if self._feeds_tap and self._source is not None and not self._source.provides_raw_frames:
            self.tap.offer_packet(packet, self.frames_captured - 1)

    def _count_drops(self, packet: EncodedPacket) -> None:
        previous, self._previous = self._previous, packet
        if previous is None or previous.stream is not packet.stream or packet.stream.fps <= 0:
            return
        interval = 1.0 / packet.stream.fps
        gap = float((packet.dts - previous.dts) * packet.stream.time_base)
        if gap > 1.5 * interval:
            self.frames_dropped += round(gap / interval) - 1

    # -- health -----------------------------------------------------------------------

    @property
    def state(self) -> CameraState:
        return self._state

    def ticking(self, within_s: float) -> bool:
        """False only for a camera that says it streams but has sent nothing for ``within_s``
        (a hung driver: a source that stalls normally raises and reconnects well before)."""
        if self._state is not CameraState.STREAMING:
            return True
        return time.monotonic() - self._last_packet_mono < within_s

    def health(self, substream: StreamHealth | None = None) -> CameraHealth:
        """This stream's health as the camera's (with its substream's, if it has one)."""
        return CameraHealth(
            camera_id=self.camera_id, substream=substream, **dict(self.stream_health())
        )

    def stream_health(self) -> StreamHealth:
        now = time.monotonic()
        mark_time, mark_frames = self._rate_mark
        if now - mark_time >= 1.0:
            self._fps = (self.frames_captured - mark_frames) / (now - mark_time)
            self._rate_mark = (now, self.frames_captured)
        gap = self.gap_seconds
        if self._outage_since is not None:
            gap += max(0.0, time.time() - self._outage_since)
        last = self._last_packet_wall
        source = self._source
        if source is not None and source.cpu_percent is not None:
            self._cpu_percent = source.cpu_percent
        return StreamHealth(
            state=self._state,
            fps=round(self._fps, 2),
            frames_captured=self.frames_captured,
            frames_dropped=self.frames_dropped,
            reconnects=self.reconnects,
            gap_seconds=round(gap, 3),
            last_frame_at=utc_from_seconds(last) if last is not None else None,
            codec=self._codec,
            encoder=self._encoder,
            encode_cpu_percent=self._cpu_percent if self._encoder else None,
        )
