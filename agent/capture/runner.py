"""One camera's capture loop: open, read packets, hand them on, reopen when it fails.

:class:`CameraRunner` owns its thread's loop (:meth:`run`) and a stop event.
A source that cannot be opened, disconnects, stalls or sends garbage raises a
:class:`SourceError`; the runner logs it with the camera's id, waits a jittered
exponential backoff (``reconnect_min_s`` doubling up to ``reconnect_max_s``,
each wait drawn from 50-100 % of that, so that several cameras behind one
flaky switch do not reconnect in lock-step) and reopens: the camera is
``reconnecting``. The backoff resets once video flows again. The time without
video is logged and added to ``gap_seconds``; frames missing inside a stream
(timestamp jumps) are counted as dropped.

A :class:`SourceRefused` (a codec that may not be transcoded, a missing file,
a password the camera refuses) is its own state, ``refused``, with its reason
(what to change): logged once as an error, then tried again only every
``refused_retry_s`` (a file may appear, a camera's settings may change; a new
config restarts the agent anyway), never in a tight loop. A file played once
(``loop = false``) is ``ended`` when it has been played: its clips still work,
pending clips are finished at once (``on_ended``), and the thread waits for
stop. Health carries the state, its reason and when the next try is due.

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
from enum import Enum
from typing import Protocol

from agent.capture.clips.files import utc_from_seconds
from agent.capture.frametap import FrameTap
from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.ring import PacketRing
from agent.capture.sources.base import SourceError, SourceRefused, VideoSource
from protocol import CameraHealth, CameraState, StreamHealth

__all__ = ["CameraRunner", "PacketListener"]

log = logging.getLogger(__name__)


class PacketListener(Protocol):
    def on_packet(self, packet: EncodedPacket) -> None:
        """Take the packet; never block the capture thread."""


class _Outcome(Enum):
    STOPPED = "stopped"
    ENDED = "ended"  # a file played once: final
    REFUSED = "refused"  # retrying will not help until something changes
    FAILED = "failed"  # transient: reconnect with backoff


ENDED_REASON = "the file has been played to its end (loop = false); clips of it still work"


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
        refused_retry_s: float = 60.0,
        rng: random.Random | None = None,
        wait: Callable[[float], bool] | None = None,
        on_ended: Callable[[str], None] | None = None,
    ) -> None:
        """``wait(seconds)`` sleeps between attempts and says whether the runner was stopped
        meanwhile (default: on the stop event; tests give a clock of their own)."""
        self.camera_id = camera_id
        self.name = name or camera_id  # what log lines call it
        self._make_source = make_source
        self.ring = ring
        self.tap = tap
        self._listeners = list(listeners)
        self._feeds_tap = feeds_tap
        self._min = reconnect_min_s
        self._max = max(reconnect_max_s, reconnect_min_s)
        self._refused_retry_s = refused_retry_s
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._on_ended = on_ended
        self._source: VideoSource | None = None
        self._state = CameraState.STOPPED
        self.stream: StreamInfo | None = None
        self.last_error: str | None = None
        self._reason: str | None = None  # why it is not streaming, without "camera <id>: "
        self._next_attempt_at: float | None = None
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
            outcome, delivered = self._run_once()
            if outcome is _Outcome.STOPPED or self._stop.is_set():
                break
            if delivered:
                attempt = 0
            if outcome is _Outcome.ENDED:
                self._state = CameraState.ENDED
                self._reason = ENDED_REASON
                log.info("camera %s: %s", self.name, ENDED_REASON)
                if self._on_ended is not None:
                    self._on_ended(self.camera_id)
                self._stop.wait()
                break
            if outcome is _Outcome.REFUSED:
                self._state = CameraState.REFUSED
                delay = self._refused_retry_s
            else:
                self._state = CameraState.RECONNECTING
                delay = min(self._max, self._min * 2**attempt) * self._rng.uniform(0.5, 1.0)
                attempt += 1
            log.info("camera %s: reopening in %.1f s", self.name, delay)
            self._next_attempt_at = time.time() + delay
            if self._wait(delay):
                break
            self._next_attempt_at = None
            self.reconnects += 1
        self._next_attempt_at = None
        self._state = CameraState.STOPPED

    def _run_once(self) -> tuple[_Outcome, bool]:
        """Open the source once and read it until it ends, fails or the runner stops."""
        source = self._make_source()
        if self._feeds_tap:  # sources that decode anyway (raw, transcoded) hand frames over
            source.outlet = self.tap
        self._source = source
        delivered = False
        try:
            self.stream = source.open()
            if self._stop.is_set():
                return _Outcome.STOPPED, delivered
            self._codec, self._encoder = source.codec, source.encoder_name
            log.info(
                "camera %s: %s source open: %dx%d at %.3g fps, %s",
                self.name,
                source.kind,
                self.stream.width,
                self.stream.height,
                self.stream.fps,
                _what_it_sends(source.codec, self._encoder),
            )
            self._last_packet_mono = time.monotonic()
            self._state = CameraState.STREAMING
            self._reason = None
            for packet in source.packets():
                if not delivered:
                    delivered = True
                    self._video_back()
                self._handle(packet)
                if self._stop.is_set():
                    return _Outcome.STOPPED, delivered
            if self._stop.is_set():
                return _Outcome.STOPPED, delivered
            if source.ends:
                self._previous = None
                return _Outcome.ENDED, delivered
            self._failed(f"the {source.kind} source ended", quiet=True)
        except SourceRefused as exc:
            self._refused(exc.reason)
            return _Outcome.REFUSED, delivered
        except SourceError as exc:
            self._failed(exc.reason)
        except Exception as exc:  # a bug or a library surprise must not end capture
            log.exception("camera %s: unexpected error in capture", self.name)
            self._failed(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            try:
                source.close()
            except Exception:
                log.exception("camera %s: error closing the source", self.name)
            self._source = None
        return _Outcome.FAILED, delivered

    def stop(self) -> None:
        self._stop.set()
        source = self._source
        if source is not None:
            source.request_stop()

    def _failed(self, reason: str, *, quiet: bool = False) -> None:
        self.failures += 1
        self.last_error = f"camera {self.name}: {reason}"
        self._reason = reason
        if self._outage_since is None:
            self._outage_since = self._last_packet_wall or time.time()
        (log.info if quiet else log.error)("%s", self.last_error)
        self._previous = None

    def _refused(self, reason: str) -> None:
        """Said once as an error (again only if the reason changes), then quietly."""
        repeated = self._state is CameraState.REFUSED and reason == self._reason
        self._failed(reason, quiet=repeated)
        if not repeated:
            log.error(
                "camera %s is refused until that is fixed; trying again every %.0f s",
                self.name,
                self._refused_retry_s,
            )

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

    @property
    def reason(self) -> str | None:
        """Why the camera is not streaming (the refusal, the last error, or its end)."""
        return None if self._state is CameraState.STREAMING else self._reason

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
            reason=self.reason[:500] if self.reason else None,
            retry_at=utc_from_seconds(retry) if (retry := self._next_attempt_at) else None,
        )


def _what_it_sends(codec: str | None, encoder: str | None) -> str:
    if encoder is None:
        return f"{codec} kept as it is"
    if codec in (None, "rawvideo"):
        return f"encoded with {encoder}"
    return f"{codec} transcoded with {encoder}"
