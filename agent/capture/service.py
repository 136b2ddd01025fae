"""Capture as one part the daemon wires in: cameras, rings, clip writer, recorder.

::

    capture = CaptureService(config, clip_sink, active_session=store.active_session)
    capture.add_frame_listener("main", detector.on_frame, fps=5)   # before or after start
    capture.start()                       # recovers interrupted clips, starts the threads
    capture.clip_writer.request_clip(...) # the ClipTrigger every trigger uses
    capture.clip_range("main", start, end, trigger)   # cloud command clip_range
    capture.set_recording(True)           # cloud commands start/stop_recording
    capture.health()                      # list[CameraHealth] for the heartbeat
    capture.stop()

Threads it owns: one runner per camera, one frame decoder per camera whose
source gives only encoded packets, one more runner per camera with a
detection substream (``substream_url``: then the main stream is recorded and
never decoded), the clip writer, the segment recorder.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from agent.capture.clips.atomic import RecoveryReport, recover_directory
from agent.capture.clips.files import ClipFileWriter, utc_from_seconds
from agent.capture.clips.recovery import recover_promises
from agent.capture.clips.writer import ClipWriter, RangeJob
from agent.capture.config import CameraConfig, RtspCameraConfig
from agent.capture.frametap import FrameTap
from agent.capture.packets import EncodedPacket
from agent.capture.recording.recorder import SegmentRecorder
from agent.capture.ring import PacketRing
from agent.capture.runner import CameraRunner
from agent.capture.sources.base import VideoSource
from agent.capture.sources.factory import make_source, make_substream_source
from agent.config import AgentConfig
from agent.interfaces.frames import FrameListener
from agent.interfaces.sinks import ClipLedger, ClipSink
from agent.interfaces.triggers import TriggerRejected
from protocol import CameraHealth, CameraState, CameraSummary, Trigger, new_id

__all__ = ["CaptureService"]

log = logging.getLogger(__name__)

_RANGE_END_SLACK_S = 2.0


class CaptureService:
    def __init__(
        self,
        config: AgentConfig,
        clip_sink: ClipSink,
        *,
        active_session: Callable[[], UUID | None] = lambda: None,
        source_factory: Callable[[CameraConfig], VideoSource] = make_source,
        substream_factory: Callable[[RtspCameraConfig], VideoSource] = make_substream_source,
        ledger: ClipLedger | None = None,
    ) -> None:
        """``ledger``: where clips promised to triggers are kept durable (the store); None
        keeps promises in memory only (tests and benchmarks that do not need them)."""
        self.config = config
        self._ledger = ledger
        data_dir = config.device.data_dir
        self.clips_directory = config.clips.directory or data_dir / "clips"
        self.segments_directory = config.recording.directory or data_dir / "segments"
        self._cameras = {camera.id: camera for camera in config.cameras}
        self.rings = {cid: PacketRing(cid, config.clips.ring_seconds) for cid in self._cameras}
        self.taps = {
            cid: FrameTap(cid, camera.detect_width) for cid, camera in self._cameras.items()
        }
        self._files = ClipFileWriter(self.clips_directory, config.clips.thumbnail_width)
        self._sink = clip_sink
        grace = max(camera.stall_timeout_s for camera in config.cameras) + 2.0
        self.clip_writer = ClipWriter(
            config.clips,
            self.rings,
            self._files,
            clip_sink,
            active_session=active_session,
            silence_grace_s=grace,
            camera_problem=self.camera_problem,
            ledger=ledger,
        )
        self.recorder = SegmentRecorder(config.recording, self.segments_directory, self._cameras)
        substreams = {
            cid: camera
            for cid, camera in self._cameras.items()
            if isinstance(camera, RtspCameraConfig) and camera.substream_url
        }
        self.runners = {
            cid: CameraRunner(
                cid,
                functools.partial(source_factory, camera),
                self.rings[cid],
                self.taps[cid],
                listeners=[self.recorder],
                feeds_tap=cid not in substreams,
                reconnect_min_s=camera.reconnect_min_s,
                reconnect_max_s=camera.reconnect_max_s,
                refused_retry_s=camera.refused_retry_s,
                on_ended=self.clip_writer.camera_ended,
            )
            for cid, camera in self._cameras.items()
        }
        #: Runners of detection substreams, by camera id: their packets only feed the tap.
        self.substreams = {
            cid: CameraRunner(
                cid,
                functools.partial(substream_factory, camera),
                None,
                self.taps[cid],
                name=f"{cid} substream",
                reconnect_min_s=camera.reconnect_min_s,
                reconnect_max_s=camera.reconnect_max_s,
                refused_retry_s=camera.refused_retry_s,
            )
            for cid, camera in substreams.items()
        }
        self._threads: list[threading.Thread] = []
        self.recovery: RecoveryReport | None = None
        self.promises_recovered: tuple[int, int] = (0, 0)  # (cut from segments, failed)

    # -- lifetime ---------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("capture is already running")
        self.clips_directory.mkdir(parents=True, exist_ok=True)
        self.recovery = recover_directory(self.clips_directory, self._sink.add_clip)
        if self.recovery.partials_removed or self.recovery.interrupted_removed:
            log.warning(
                "removed %d interrupted clip write(s) left by a crash or power cut",
                len(self.recovery.partials_removed) + len(self.recovery.interrupted_removed),
            )
        self.recorder.load_index()
        if self._ledger is not None:
            self.promises_recovered = recover_promises(
                self._ledger, self.clip_writer, self.recorder, list(self._cameras)
            )
        self._spawn("clip-writer", self.clip_writer.run)
        self._spawn("segment-recorder", self.recorder.run)
        for cid, runner in self.runners.items():
            self._spawn(f"decode-{cid}", self.taps[cid].run)
            self._spawn(f"camera-{cid}", runner.run)
        for cid, runner in self.substreams.items():
            self._spawn(f"substream-{cid}", runner.run)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"sideline-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop cameras first, then finish pending clips with what they have, then the rest."""
        for runner in [*self.runners.values(), *self.substreams.values()]:
            runner.stop()
        for tap in self.taps.values():
            tap.stop()
        self.recorder.stop()
        self.clip_writer.stop()
        for thread in self._threads:
            thread.join(timeout_s)
            if thread.is_alive():
                log.error("%s did not stop within %.0f s", thread.name, timeout_s)
        self._threads = []

    # -- what the daemon and the triggers call ----------------------------------------------

    def add_frame_listener(self, camera_id: str, listener: FrameListener, fps: float) -> None:
        if camera_id not in self.taps:
            raise KeyError(f"camera {camera_id}: no such camera on this box")
        self.taps[camera_id].add_listener(listener, fps)

    def set_recording(self, enabled: bool, camera_id: str | None = None) -> None:
        self.recorder.set_enabled(enabled, camera_id)

    def clip_range(
        self,
        camera_id: str,
        start: datetime,
        end: datetime,
        trigger: Trigger,
        *,
        session_id: UUID | None = None,
        log_id: UUID | None = None,
        replaces: UUID | None = None,
    ) -> UUID:
        """Cut ``[start, end]`` from recorded segments and the ring; returns the clip id at once.

        The clip shows exactly the range (an edit list hides the frames from the keyframe
        before ``start``). ``end`` may lie up to ``clips.max_post_seconds`` ahead (a tag's
        lag): the ring is then followed until that frame arrives.
        """
        if camera_id not in self._cameras:
            raise TriggerRejected(f"camera {camera_id}: no such camera on this box")
        begin, finish = start.timestamp(), end.timestamp()
        longest = self.config.recording.max_range_seconds
        if not finish > begin:
            raise TriggerRejected(f"camera {camera_id}: range end must be after its start")
        if finish - begin > longest:
            raise TriggerRejected(
                f"camera {camera_id}: range of {finish - begin:.0f} s is longer than the {longest:.0f} s allowed"
            )
        ring = self.rings[camera_id]
        newest = ring.newest_time
        if newest is None and not self.recorder.segments(camera_id):
            raise TriggerRejected(
                f"camera {camera_id}: no video on this box yet (camera starting, reconnecting "
                "or offline)"
            )
        now = max(time.time(), newest or 0.0)
        ahead = self.config.clips.max_post_seconds
        if finish > now + ahead + _RANGE_END_SLACK_S:
            raise TriggerRejected(
                f"camera {camera_id}: the range ends {finish - now:.0f} s from now; at most "
                f"{ahead:.0f} s ahead (clips.max_post_seconds)"
            )
        covered = self._covered_from(camera_id)
        if covered is None or begin < covered:
            raise TriggerRejected(
                f"camera {camera_id}: {start.isoformat()}..{end.isoformat()} is no longer on this "
                "box (recorded segments and memory cover "
                + (
                    f"from {datetime.fromtimestamp(covered, UTC).isoformat()}"
                    if covered
                    else "nothing"
                )
                + ("" if self.recorder.is_enabled(camera_id) else "; continuous recording is off")
                + ")"
            )
        # A range whose end has not been filmed yet ("up to now" arrives a moment ahead of
        # the newest frame; a tag's lag lies seconds ahead) follows the ring until it is.
        follow_from: float | None = None
        if newest is None:  # offline now: what it recorded before can still be cut
            if finish > time.time():
                raise TriggerRejected(
                    f"camera {camera_id}: the range ends ahead but the camera has no video "
                    "now (reconnecting or offline)"
                )
        elif finish > newest:
            follow_from = max(begin, ring.oldest_time or begin)
        clip_id = new_id()
        stream = self.rings[camera_id].newest_stream
        self.clip_writer.submit_range(
            RangeJob(
                clip_id=clip_id,
                camera_id=camera_id,
                start=begin,
                end=finish,
                load=functools.partial(self._range_packets, camera_id, begin, finish),
                triggers=(trigger,),
                session_id=session_id,
                log_id=log_id,
                replaces=replaces,
                thumbnail_at=min(max(trigger.at.timestamp(), begin), finish),
                width=stream.width if stream else 0,
                height=stream.height if stream else 0,
            ),
            follow_from=follow_from,
        )
        return clip_id

    def covered_from(self, camera_id: str) -> float | None:
        """The oldest video of ``camera_id`` on this box (segments or memory), UTC seconds."""
        return self._covered_from(camera_id)

    def _covered_from(self, camera_id: str) -> float | None:
        segments = self.recorder.segments(camera_id)
        oldest_ring = self.rings[camera_id].oldest_time
        starts = [s.start for s in segments[:1]] + (
            [oldest_ring] if oldest_ring is not None else []
        )
        return min(starts) if starts else None

    def _range_packets(
        self,
        camera_id: str,
        begin: float,
        finish: float,
        tail: Sequence[EncodedPacket] | None,
    ) -> list[EncodedPacket]:
        """Recorded packets of the range, then the ring's (``tail``: what a follower
        collected; else a snapshot now) after the last recorded one."""
        from_disk = self.recorder.packets_between(camera_id, begin, finish)
        tail_from = from_disk[-1].captured_at if from_disk else float("-inf")
        memory = tail if tail is not None else self.rings[camera_id].snapshot(max(begin, tail_from))
        ring = [p for p in memory if p.captured_at > tail_from]
        while ring and from_disk and not ring[0].is_keyframe:
            ring.pop(0)
        return from_disk + ring

    # -- health ---------------------------------------------------------------------------

    def alive(self, within_s: float) -> bool:
        """Every capture thread runs and no streaming camera has been silent for ``within_s``."""
        if not self._threads or not all(thread.is_alive() for thread in self._threads):
            return False
        runners = [*self.runners.values(), *self.substreams.values()]
        return all(runner.ticking(within_s) for runner in runners)

    def camera_problem(self, camera_id: str) -> str | None:
        """Why a camera has no video, as its state says (None while it streams)."""
        runner = self.runners.get(camera_id)
        if runner is None or runner.state is CameraState.STREAMING:
            return None
        reason = runner.reason
        if runner.state is CameraState.REFUSED:
            return reason
        if runner.state is CameraState.RECONNECTING:
            return f"no video: reconnecting ({reason})" if reason else None
        return reason

    def health(self) -> list[CameraHealth]:
        out = []
        for cid, runner in self.runners.items():
            substream = self.substreams.get(cid)
            health = runner.health(substream.stream_health() if substream else None)
            covered = self._covered_from(cid)
            out.append(
                health.model_copy(
                    update={
                        "recording": self.recorder.is_enabled(cid),
                        "recorded_from": utc_from_seconds(covered) if covered else None,
                    }
                )
            )
        return out

    def camera_summaries(self) -> list[CameraSummary]:
        out = []
        for cid, camera in self._cameras.items():
            stream = self.runners[cid].stream
            out.append(
                CameraSummary(
                    camera_id=cid,
                    kind=camera.kind,
                    width=stream.width if stream else None,
                    height=stream.height if stream else None,
                    fps=stream.fps if stream and stream.fps > 0 else None,
                )
            )
        return out

    def frames_decoded(self, camera_id: str) -> int:
        """Frames decoded only for detection (encoded-only sources, or the camera's detection
        substream): DetectionHealth.frames_decoded."""
        return self.taps[camera_id].frames_decoded
