"""Low-resolution decoded frames for detection and preview, at each listener's own rate.

Capture never waits here. Raw-frame sources call :meth:`FrameTap.put_frame`
only when :meth:`FrameTap.wants_frame` says a listener is due, and the frame
is scaled down once for all listeners due. Encoded-only sources (files, RTSP)
hand every packet to :meth:`FrameTap.offer_packet`, which returns at once: with
no listener nothing is decoded at all; otherwise packets go into a bounded
queue for a decoder thread (:meth:`run`). When that thread falls behind, the
queue fills and the tap drops packets up to the next keyframe (a decoder cannot
resume mid-GOP), counting them in ``packets_skipped``. Decoding is counted in
``frames_decoded`` so that the heartbeat shows what detection costs.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av

from agent.capture.packets import EncodedPacket, StreamInfo
from agent.interfaces.frames import Frame, FrameListener

if TYPE_CHECKING:  # numpy is imported when a listener first needs a frame
    import numpy as np
    import numpy.typing as npt

__all__ = ["FrameTap"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Subscription:
    listener: FrameListener
    interval_s: float
    next_due: float = 0.0


@dataclass(frozen=True, slots=True)
class _Queued:
    packet: EncodedPacket
    index: int


class FrameTap:
    def __init__(self, camera_id: str, width: int, *, queue_size: int = 90) -> None:
        self.camera_id = camera_id
        self.width = width
        self._subscriptions: list[_Subscription] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Queued | None] = queue.Queue(maxsize=queue_size)
        self._resync = False
        self._stop = threading.Event()
        self.frames_decoded = 0
        self.frames_delivered = 0
        self.packets_skipped = 0
        self.listener_errors = 0

    # -- listeners -------------------------------------------------------------------

    def add_listener(self, listener: FrameListener, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"camera {self.camera_id}: frame rate must be positive, got {fps}")
        with self._lock:
            self._subscriptions.append(_Subscription(listener, 1.0 / fps))

    def remove_listener(self, listener: FrameListener) -> None:
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s.listener is not listener]

    @property
    def has_listeners(self) -> bool:
        return bool(self._subscriptions)

    # -- raw frames (RawFrameOutlet) -----------------------------------------------------

    def wants_frame(self, captured_at: float) -> bool:
        return any(captured_at >= s.next_due for s in self._subscriptions)

    def put_frame(self, frame: av.VideoFrame, captured_at: float, index: int) -> None:
        with self._lock:
            due = [s for s in self._subscriptions if captured_at >= s.next_due]
            for subscription in due:
                # Keep the cadence; after a pause (or the first frame) restart it from now,
                # so that a late frame never schedules a burst.
                following = subscription.next_due + subscription.interval_s
                if following <= captured_at:
                    following = captured_at + subscription.interval_s
                subscription.next_due = following
        if not due:
            return
        delivered = Frame(
            camera_id=self.camera_id,
            image=self._scale(frame),
            captured_at=captured_at,
            index=index,
        )
        for subscription in due:
            try:
                subscription.listener(delivered)
                self.frames_delivered += 1
            except Exception:
                self.listener_errors += 1
                log.exception("camera %s: frame listener failed", self.camera_id)

    def _scale(self, frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
        import numpy as np

        width = min(self.width, frame.width) & ~1
        height = max(2, round(frame.height * width / frame.width)) & ~1
        image = frame.reformat(width=width, height=height, format="bgr24").to_ndarray()
        return np.ascontiguousarray(image)

    # -- encoded packets -----------------------------------------------------------------

    def offer_packet(self, packet: EncodedPacket, index: int) -> None:
        """Called on the capture thread for every packet; returns at once."""
        if not self._subscriptions:
            self._resync = True
            return
        if self._resync:
            if not packet.is_keyframe:
                self.packets_skipped += 1
                return
            self._resync = False
        try:
            self._queue.put_nowait(_Queued(packet, index))
        except queue.Full:
            self._resync = True
            self.packets_skipped += 1

    def run(self) -> None:
        """Decoder thread: decode queued packets, deliver frames that are due."""
        decoder: av.VideoCodecContext | None = None
        stream: StreamInfo | None = None
        pending: dict[int, tuple[float, int]] = {}
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is None:
                break
            packet = item.packet
            if decoder is None or packet.stream is not stream:
                decoder, stream, pending = self._new_decoder(packet.stream), packet.stream, {}
            pending[packet.pts] = (packet.captured_at, item.index)
            try:
                frames = self._decode(decoder, packet)
            except av.FFmpegError as exc:
                log.warning(
                    "camera %s: could not decode a frame for detection: %s", self.camera_id, exc
                )
                decoder = None
                continue
            for frame in frames:
                self.frames_decoded += 1
                key = frame.pts if frame.pts is not None else packet.pts
                captured_at, index = pending.pop(key, (packet.captured_at, item.index))
                if self.wants_frame(captured_at):
                    self.put_frame(frame, captured_at, index)
            if len(pending) > 64:  # frames the decoder never returned
                pending.clear()

    @staticmethod
    def _decode(decoder: av.VideoCodecContext, packet: EncodedPacket) -> list[av.VideoFrame]:
        raw = av.Packet(packet.data)
        raw.pts = packet.pts
        raw.dts = packet.dts
        raw.time_base = packet.time_base
        return list(decoder.decode(raw))

    def _new_decoder(self, stream: StreamInfo) -> av.VideoCodecContext:
        decoder = av.CodecContext.create("h264", "r")
        assert isinstance(decoder, av.VideoCodecContext)
        if stream.extradata:
            decoder.extradata = stream.extradata
        decoder.thread_type = "SLICE"
        return decoder

    def stop(self) -> None:
        self._stop.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
