"""Continuous recording in short stream-copied segments, within a disk quota.

:class:`SegmentRecorder` is a packet listener: on the capture thread it only
puts packets into a bounded queue (when recording is on for that camera); its
own thread (:meth:`run`) writes them. A slow disk therefore never stalls
capture: a full queue drops packets up to the next keyframe and counts them.

A new segment starts on the first keyframe after ``segment_seconds``, and
whenever the stream session changes. Closed segments are renamed to carry
their span; when the total exceeds ``quota_bytes`` the oldest are deleted. A
write error (disk full) is logged naming the camera; the partial segment is
removed and recording resumes at the next keyframe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av

from agent.capture.clips.atomic import fsync_directory
from agent.capture.clips.timeline import OUTPUT_TIME_BASE
from agent.capture.config import RecordingConfig
from agent.capture.packets import EncodedPacket, StreamInfo
from agent.capture.recording.segments import Segment, parse_segment_name, read_segment, segment_name

__all__ = ["SegmentRecorder"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Open:
    camera_id: str
    stream: StreamInfo
    path: Path
    container: av.container.OutputContainer
    video: av.stream.Stream
    start: float
    first_pts: int
    last_dts: int = -1
    end: float = 0.0


class SegmentRecorder:
    def __init__(
        self,
        config: RecordingConfig,
        directory: Path,
        camera_ids: Iterable[str],
        *,
        queue_packets: int = 3000,
    ) -> None:
        self.config = config
        self.directory = directory
        self._cameras = set(camera_ids)
        self._enabled = set(self._cameras) if config.enabled else set()
        self._queue: queue.Queue[EncodedPacket | None] = queue.Queue(maxsize=queue_packets)
        self._resync: set[str] = set()
        self._open: dict[str, _Open] = {}
        self._segments: dict[str, list[Segment]] = {c: [] for c in self._cameras}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.packets_dropped = 0
        self.write_errors = 0
        self.segments_deleted = 0

    # -- control ----------------------------------------------------------------------

    def set_enabled(self, enabled: bool, camera_id: str | None = None) -> None:
        cameras = [camera_id] if camera_id is not None else sorted(self._cameras)
        for camera in cameras:
            if camera not in self._cameras:
                raise KeyError(f"camera {camera}: no such camera on this box")
            if enabled:
                self._enabled.add(camera)
                self._resync.add(camera)
            else:
                self._enabled.discard(camera)
        log.info("recording %s for %s", "on" if enabled else "off", ", ".join(cameras))

    def is_enabled(self, camera_id: str) -> bool:
        return camera_id in self._enabled

    # -- capture thread ---------------------------------------------------------------

    def on_packet(self, packet: EncodedPacket) -> None:
        camera = packet.stream.camera_id
        if camera not in self._enabled:
            return
        if camera in self._resync:
            if not packet.is_keyframe:
                return
            self._resync.discard(camera)
        try:
            self._queue.put_nowait(packet)
        except queue.Full:
            self.packets_dropped += 1
            self._resync.add(camera)

    # -- writer thread ----------------------------------------------------------------

    def run(self) -> None:
        self.load_index()
        while True:  # drains what was queued before stop()
            try:
                packet = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    break
                self._close_disabled()
                continue
            if packet is None:
                break
            self._write(packet)
        for camera in list(self._open):
            self._close(camera)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    def _close_disabled(self) -> None:
        for camera in list(self._open):
            if camera not in self._enabled:
                self._close(camera)

    def _write(self, packet: EncodedPacket) -> None:
        camera = packet.stream.camera_id
        current = self._open.get(camera)
        if (
            current is not None
            and packet.is_keyframe
            and (
                packet.stream is not current.stream
                or packet.captured_at - current.start >= self.config.segment_seconds
            )
        ):
            self._close(camera)
            current = None
        if current is None:
            if not packet.is_keyframe:
                return
            try:
                current = self._begin(packet)
            except (OSError, av.FFmpegError) as exc:
                self._error(camera, exc)
                return
        try:
            self._mux(current, packet)
        except (OSError, av.FFmpegError) as exc:
            self._abort(camera)
            self._error(camera, exc)

    def _begin(self, packet: EncodedPacket) -> _Open:
        camera = packet.stream.camera_id
        folder = self.directory / camera
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f".{round(packet.captured_at * 1000)}.ts.partial"
        container = av.open(str(path), "w", format="mpegts")
        video = container.add_mux_stream(
            "h264",
            width=packet.stream.width,
            height=packet.stream.height,
            time_base=OUTPUT_TIME_BASE,
        )
        segment = _Open(
            camera, packet.stream, path, container, video, packet.captured_at, packet.pts
        )
        self._open[camera] = segment
        return segment

    def _mux(self, segment: _Open, packet: EncodedPacket) -> None:
        tb = packet.stream.time_base
        pts = round((packet.pts - segment.first_pts) * tb / OUTPUT_TIME_BASE)
        dts = max(
            round((packet.dts - segment.first_pts) * tb / OUTPUT_TIME_BASE), segment.last_dts + 1
        )
        out = av.Packet(packet.data)
        out.pts, out.dts = max(pts, dts), dts
        out.time_base = OUTPUT_TIME_BASE
        out.is_keyframe = packet.is_keyframe
        out.stream = segment.video
        segment.container.mux(out)
        segment.last_dts = dts
        step = float(packet.duration * tb) if packet.duration else 1 / max(packet.stream.fps, 1)
        segment.end = packet.captured_at + step

    def _close(self, camera: str) -> None:
        segment = self._open.pop(camera, None)
        if segment is None:
            return
        try:
            segment.container.close()
            final = segment.path.with_name(segment_name(segment.start, segment.end))
            fd = os.open(segment.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(segment.path, final)
            fsync_directory(final.parent)
        except (OSError, av.FFmpegError) as exc:
            segment.path.unlink(missing_ok=True)
            self._error(camera, exc)
            return
        closed = parse_segment_name(camera, final)
        if closed is not None:
            with self._lock:
                self._segments.setdefault(camera, []).append(closed)
        self._enforce_quota()

    def _abort(self, camera: str) -> None:
        segment = self._open.pop(camera, None)
        if segment is None:
            return
        with contextlib.suppress(Exception):
            segment.container.close()
        segment.path.unlink(missing_ok=True)

    def _error(self, camera: str, exc: BaseException) -> None:
        self.write_errors += 1
        self._resync.add(camera)
        log.error("camera %s: recording segment not written to %s: %s", camera, self.directory, exc)
        self._enforce_quota()

    def _enforce_quota(self) -> None:
        with self._lock:
            everything = sorted(
                (s for segments in self._segments.values() for s in segments), key=lambda s: s.start
            )
            total = sum(s.size for s in everything)
            for oldest in everything:
                if total <= self.config.quota_bytes:
                    break
                oldest.path.unlink(missing_ok=True)
                self._segments[oldest.camera_id].remove(oldest)
                total -= oldest.size
                self.segments_deleted += 1

    # -- index and read-back -------------------------------------------------------------

    def load_index(self) -> None:
        """Scan the directory: finish segments cut short by a crash, index the rest."""
        with self._lock:
            for camera in self._cameras:
                folder = self.directory / camera
                found: list[Segment] = []
                if folder.exists():
                    for partial in folder.glob(".*.ts.partial"):
                        self._salvage(camera, partial)
                    for path in folder.glob("*.ts"):
                        segment = parse_segment_name(camera, path)
                        if segment is not None:
                            found.append(segment)
                self._segments[camera] = sorted(found, key=lambda s: s.start)

    def _salvage(self, camera: str, partial: Path) -> None:
        try:
            start = int(partial.name[1:].split(".", 1)[0]) / 1000
            packets = read_segment(camera, partial, start)
        except (ValueError, OSError, av.FFmpegError):
            packets = []
        if not packets:
            partial.unlink(missing_ok=True)
            return
        last = packets[-1]
        end = last.captured_at + 1 / max(last.stream.fps, 1)
        os.replace(partial, partial.with_name(segment_name(start, end)))
        log.info("camera %s: kept %d frames of a segment cut short", camera, len(packets))

    def segments(self, camera_id: str) -> list[Segment]:
        with self._lock:
            return list(self._segments.get(camera_id, []))

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(s.size for segments in self._segments.values() for s in segments)

    def packets_between(self, camera_id: str, start: float, end: float) -> list[EncodedPacket]:
        """Packets of the closed segments that overlap ``[start, end]``, oldest first."""
        packets: list[EncodedPacket] = []
        for segment in self.segments(camera_id):
            if segment.end < start or segment.start > end:
                continue
            try:
                packets.extend(read_segment(camera_id, segment.path, segment.start))
            except (OSError, av.FFmpegError) as exc:
                log.error("camera %s: segment %s unreadable: %s", camera_id, segment.path.name, exc)
        return packets
