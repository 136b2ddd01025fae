"""The clip writer: every trigger's :class:`ClipRequest` becomes one clip per camera.

Window: ``[T - pre, T + post]`` with ``pre``/``post`` from the request or the
config defaults, each within ``0 .. max_*`` (else :class:`TriggerRejected`
naming the camera). The clip starts on the last keyframe at or before
``T - pre`` and ends with the first frame at or after ``T + post``.

Merging (one copy of any second, as far as keyframes allow):

* A trigger whose window overlaps or touches a clip of the same camera that is
  still collecting its post-roll joins that clip: the clip becomes the union of
  the windows and lists both triggers; the caller gets the existing clip id.
  A merged clip is never longer than ``max_pre_seconds + max_post_seconds``;
  a trigger that would stretch it further starts a new clip instead.
* A trigger whose window starts before the end of the camera's last
  *finished* clip (or of a clip it could not join) gets a new clip that starts
  at that clip's last frame (on the keyframe at or before it), so the two share
  at most one keyframe interval.

Requests return at once, but only after the clip's promise is durable in the
``ledger`` (the store): a power cut during the post-roll does not forget the
press (see :mod:`agent.capture.clips.recovery` for what happens at the next
start). A clip that cannot be made (no video in its window, a write that kept
failing) ends its promise as a failed clip with the reason, for the cloud.
Clips are finished by :meth:`ClipWriter.run` (the writer thread) when the ring
delivers a frame at or after the window's end, or when the camera has been
silent past a deadline (then with what there is).
Writing, handing over and retrying is :class:`agent.capture.clips.commit.ClipCommitter`'s job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from agent.capture.clips.commit import ClipCommitter, ClipWriterStats
from agent.capture.clips.files import ClipFileWriter, ClipJob, utc_from_seconds
from agent.capture.clips.timeline import select_window
from agent.capture.config import ClipConfig
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing, RingFollower
from agent.interfaces.sinks import ClipLedger, ClipPromise, ClipSink
from agent.interfaces.triggers import ClipRequest, TriggerRejected
from protocol import ClipFailureReason, Trigger, new_id

__all__ = ["ClipWriter", "ClipWriterStats", "RangeJob"]

log = logging.getLogger(__name__)

_TOUCH_S = 0.001


@dataclass(slots=True)
class _Pending:
    id: UUID
    camera_id: str
    start: float
    end: float
    anchor: float  # the first trigger's T: its stream wins, its keyframe is the thumbnail
    triggers: list[Trigger]
    session_id: UUID | None
    follower: RingFollower
    deadline: float  # time.monotonic() after which the clip is finished with what there is
    width: int  # the stream's when the first trigger came (for a failed clip's record)
    height: int

    def promise(self) -> ClipPromise:
        return ClipPromise(
            id=self.id,
            camera_id=self.camera_id,
            start=utc_from_seconds(self.start),
            end=utc_from_seconds(self.end),
            triggers=tuple(self.triggers),
            session_id=self.session_id,
            width=self.width,
            height=self.height,
        )


@dataclass(slots=True)
class RangeJob:
    """A clip cut from recorded video and memory (``clip_range``), shown from ``start``.

    ``load(tail)`` returns its packets on the writer thread: ``tail`` is what a ring
    follower collected when the range ends ahead (a tag's lag), else None.
    """

    clip_id: UUID
    camera_id: str
    start: float
    end: float
    load: Callable[[Sequence[EncodedPacket] | None], Sequence[EncodedPacket]]
    triggers: tuple[Trigger, ...]
    session_id: UUID | None
    log_id: UUID | None = None
    replaces: UUID | None = None
    thumbnail_at: float | None = None  # default: start
    follower: RingFollower | None = None  # set by the writer when the end lies ahead
    deadline: float = 0.0  # time.monotonic(): cut with what there is after this
    width: int = 0  # the camera's size when known (for a failed clip's record)
    height: int = 0
    # What a range with nothing readable in it reports (a press recovered after a power
    # cut says that, rather than "no video").
    if_empty: tuple[ClipFailureReason, str] | None = None

    def promise(self) -> ClipPromise:
        return ClipPromise(
            id=self.clip_id,
            camera_id=self.camera_id,
            start=utc_from_seconds(self.start),
            end=utc_from_seconds(max(self.start, self.end)),
            triggers=self.triggers,
            session_id=self.session_id,
            width=self.width,
            height=self.height,
        )


class ClipWriter:
    """Implements :class:`agent.interfaces.triggers.ClipTrigger`."""

    def __init__(
        self,
        config: ClipConfig,
        rings: Mapping[str, PacketRing],
        files: ClipFileWriter,
        sink: ClipSink,
        *,
        active_session: Callable[[], UUID | None] = lambda: None,
        silence_grace_s: float = 5.0,
        camera_problem: Callable[[str], str | None] = lambda camera_id: None,
        ledger: ClipLedger | None = None,
    ) -> None:
        """``camera_problem(camera_id)``: why a camera has no video (its state's reason), so
        that a refused press says it ("camera main: ... sends hevc ... transcoding is off")."""
        self.config = config
        self._rings = dict(rings)
        self.stats = ClipWriterStats()
        self._ledger = ledger
        self._committer = ClipCommitter(
            config, files, sink, self.stats, on_given_up=self._write_given_up
        )
        self._active_session = active_session
        self._camera_problem = camera_problem
        self._grace = silence_grace_s
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._finished_end: dict[str, float] = {}
        self._ended: set[str] = set()  # cameras that will send nothing more
        self._ranges: list[RangeJob] = []  # cut after the fact, waiting for the thread
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._default_pre = config.pre_seconds
        self._default_post = config.post_seconds

    def set_defaults(self, pre_s: float | None, post_s: float | None) -> None:
        """The cloud's clip defaults (None: the configured one), kept within the allowed maxima."""
        c = self.config
        pre = c.pre_seconds if pre_s is None else min(pre_s, c.max_pre_seconds)
        post = c.post_seconds if post_s is None else min(post_s, c.max_post_seconds)
        if (pre_s is not None and pre != pre_s) or (post_s is not None and post != post_s):
            log.warning(
                "clip defaults %s/%s s from the cloud exceed this box's maxima "
                "(clips.max_pre_seconds %g, clips.max_post_seconds %g): using %g/%g s",
                pre_s,
                post_s,
                c.max_pre_seconds,
                c.max_post_seconds,
                pre,
                post,
            )
        self._default_pre, self._default_post = pre, post

    @property
    def defaults(self) -> tuple[float, float]:
        return self._default_pre, self._default_post

    # -- ClipTrigger ---------------------------------------------------------------------

    def request_clip(self, request: ClipRequest) -> list[UUID]:
        pre = self._default_pre if request.pre_s is None else request.pre_s
        post = self._default_post if request.post_s is None else request.post_s
        moment = request.trigger.at.timestamp()
        if request.camera_id is not None:
            cameras = [request.camera_id]
            self._check_window(request.camera_id, pre, post)
            self._check_camera(request.camera_id, moment, post)
        else:
            # Every camera: the ones that can make the clip do; the others say why.
            self._check_window(", ".join(sorted(self._rings)), pre, post)
            cameras, refusals = [], []
            for camera_id in sorted(self._rings):
                try:
                    self._check_camera(camera_id, moment, post)
                    cameras.append(camera_id)
                except TriggerRejected as exc:
                    refusals.append(str(exc))
            if not cameras:
                raise TriggerRejected("; ".join(refusals) or "no cameras on this box")
        session = request.session_id if request.session_id is not None else self._active_session()
        with self._lock:
            promises = [
                self._add(camera_id, moment, pre, post, request.trigger, session).promise()
                for camera_id in cameras
            ]
        for promise in promises:  # durable before the caller hears "clip coming"
            self._keep_promise(promise)
        self._wakeup.set()
        return [promise.id for promise in promises]

    def _keep_promise(self, promise: ClipPromise) -> None:
        if self._ledger is None:
            return
        try:
            self._ledger.promise_clip(promise)
        except Exception:
            # The clip is still made; only a power cut before it is done would now lose it.
            self.stats.unrecorded_promises += 1
            log.exception(
                "camera %s: clip %s: the press could not be recorded durably; the clip is "
                "made, but a power cut before it is complete would leave no trace of it",
                promise.camera_id,
                promise.id,
            )

    def _fail(self, promise: ClipPromise, reason: ClipFailureReason, message: str) -> None:
        """End a promise as a failed clip (the cloud's timeline shows it with ``message``)."""
        self.stats.failed += 1
        if self._ledger is None:
            return
        try:
            self._ledger.fail_clip(promise, reason, message)
        except Exception:
            log.exception(
                "camera %s: clip %s failed (%s) and that could not be recorded; it is "
                "reported at the next start",
                promise.camera_id,
                promise.id,
                message,
            )

    def _write_given_up(self, job: ClipJob, reason: str) -> None:
        first = job.packets[0]
        self._fail(
            ClipPromise(
                id=job.clip_id,
                camera_id=job.camera_id,
                start=utc_from_seconds(first.captured_at),
                end=utc_from_seconds(job.packets[-1].captured_at),
                triggers=job.triggers,
                session_id=job.session_id,
                width=first.stream.width,
                height=first.stream.height,
            ),
            ClipFailureReason.WRITE_FAILED,
            f"the clip's file could not be written ({reason})",
        )

    def _reject(self, camera_id: str, reason: str) -> TriggerRejected:
        self.stats.rejected += 1
        message = f"camera {camera_id}: {reason}"
        log.warning("%s (clip refused)", message)
        return TriggerRejected(message)

    def _check_window(self, camera_id: str, pre: float, post: float) -> None:
        c = self.config
        if not 0 <= pre <= c.max_pre_seconds:
            raise self._reject(
                camera_id, f"pre-roll {pre:g} s is outside 0..{c.max_pre_seconds:g} s"
            )
        if not 0 <= post <= c.max_post_seconds:
            raise self._reject(
                camera_id, f"post-roll {post:g} s is outside 0..{c.max_post_seconds:g} s"
            )

    def _check_camera(self, camera_id: str, moment: float, post: float) -> None:
        c = self.config
        if camera_id not in self._rings:
            known = ", ".join(sorted(self._rings)) or "none"
            raise self._reject(camera_id, f"no such camera on this box (cameras: {known})")
        ring = self._rings[camera_id]
        oldest, newest = ring.oldest_time, ring.newest_time
        if oldest is None or newest is None:
            problem = self._camera_problem(camera_id)
            raise self._reject(
                camera_id, problem or "no video in memory yet (camera starting or reconnecting)"
            )
        if moment + post < oldest:
            raise self._reject(
                camera_id,
                f"the window ends {oldest - moment - post:.1f} s before the oldest video in memory; "
                "cut it from recorded segments with clip_range instead",
            )
        now = max(time.time(), newest)
        if moment > now + c.max_post_seconds:
            raise self._reject(camera_id, f"trigger time is {moment - now:.0f} s in the future")

    def _add(
        self,
        camera_id: str,
        moment: float,
        pre: float,
        post: float,
        trigger: Trigger,
        session: UUID | None,
    ) -> _Pending:
        start, end = moment - pre, moment + post
        longest = self.config.max_pre_seconds + self.config.max_post_seconds
        ring = self._rings[camera_id]
        self.stats.requested += 1
        blocked_until = self._finished_end.get(camera_id, float("-inf"))
        for pending in self._pending:
            if pending.camera_id != camera_id:
                continue
            overlaps = start <= pending.end + _TOUCH_S and end >= pending.start - _TOUCH_S
            if not overlaps:
                continue
            union_start, union_end = min(start, pending.start), max(end, pending.end)
            if union_end - union_start > longest:
                # That clip will end on the first frame at or after its end: start there.
                last_frame = ring.first_time_at_or_after(pending.end)
                blocked_until = max(
                    blocked_until, last_frame if last_frame is not None else pending.end
                )
                continue
            if union_start < pending.start:
                ring.extend_start(pending.follower, union_start)
            pending.start, pending.end = union_start, union_end
            ring.set_end(pending.follower, union_end)
            pending.triggers.append(trigger)
            pending.deadline = self._deadline(ring, union_end)
            self.stats.merged += 1
            log.info(
                "camera %s: trigger (%s) merged into clip %s", camera_id, trigger.source, pending.id
            )
            return pending
        if start < blocked_until < end:
            start = blocked_until
        follower = ring.follow(start, end, self._wakeup)
        stream = ring.newest_stream
        clip = _Pending(
            id=new_id(),
            camera_id=camera_id,
            start=start,
            end=end,
            anchor=moment,
            triggers=[trigger],
            session_id=session,
            follower=follower,
            deadline=self._deadline(ring, end),
            width=stream.width if stream else 0,
            height=stream.height if stream else 0,
        )
        self._pending.append(clip)
        log.info(
            "camera %s: clip %s from %s trigger, window %.1f s before .. %.1f s after",
            camera_id,
            clip.id,
            trigger.source,
            moment - start,
            post,
        )
        return clip

    def camera_ended(self, camera_id: str) -> None:
        """The camera will send nothing more (a file played once): its clips, pending or
        asked for later, are finished with what there is at once instead of waiting."""
        with self._lock:
            self._ended.add(camera_id)
            for pending in self._pending:
                if pending.camera_id == camera_id:
                    pending.deadline = 0.0
        self._wakeup.set()

    def _deadline(self, ring: PacketRing, end: float) -> float:
        if ring.camera_id in self._ended:
            return 0.0
        newest = ring.newest_time or time.time()
        return time.monotonic() + max(0.0, end - newest) + self._grace

    # -- clips cut from elsewhere (recorded segments) -----------------------------------------

    def submit_range(
        self, job: RangeJob, *, follow_from: float | None = None, promised: bool = False
    ) -> None:
        """Queue a clip cut from recorded video (``clip_range``, or a press recovered at
        start-up: ``promised``, its promise is already kept); written on the writer thread.

        ``follow_from``: the range ends ahead of the newest frame, so the ring is followed
        from there (the oldest second it still holds, or ``job.start``) until the end
        frame arrives (or the camera falls silent past the deadline).
        """
        if not promised:
            self._keep_promise(job.promise())
        with self._lock:
            if follow_from is not None:
                ring = self._rings[job.camera_id]
                job.follower = ring.follow(follow_from, job.end, self._wakeup)
                job.deadline = self._deadline(ring, job.end)
            self._ranges.append(job)
            self.stats.requested += 1
        self._wakeup.set()

    def _load_range(self, job: RangeJob) -> ClipJob | None:
        tail: list[EncodedPacket] | None = None
        if job.follower is not None:
            self._rings[job.camera_id].unfollow(job.follower)
            tail = list(job.follower.packets)
        try:
            packets = select_window(job.load(tail), job.start, job.end, job.start)
        except Exception:
            log.exception(
                "camera %s: clip %s: recorded video could not be read", job.camera_id, job.clip_id
            )
            packets = []
        if not packets:
            log.error(
                "camera %s: clip %s: no readable video in the range; nothing written",
                job.camera_id,
                job.clip_id,
            )
            self.stats.given_up += 1
            reason, message = job.if_empty or (
                ClipFailureReason.NO_VIDEO,
                "no recorded video of this camera was readable for the range",
            )
            self._fail(job.promise(), reason, message)
            return None
        return ClipJob(
            job.clip_id,
            job.camera_id,
            tuple(packets),
            job.triggers,
            job.session_id,
            job.start if job.thumbnail_at is None else job.thumbnail_at,
            present_from=job.start,
            log_id=job.log_id,
            replaces=job.replaces,
        )

    # -- writer thread ------------------------------------------------------------------

    def run(self) -> None:
        while not self._stop.is_set():
            self._wakeup.wait(0.25)
            self._wakeup.clear()
            self.process_ready()
        self.process_ready(flush=True)

    def stop(self) -> None:
        self._stop.set()
        self._wakeup.set()

    def process_ready(self, *, flush: bool = False) -> int:
        """Write every clip whose window is complete; returns how many were written."""
        now = time.monotonic()
        jobs: list[ClipJob] = []
        empty: list[_Pending] = []
        with self._lock:
            ready = [
                p
                for p in self._pending
                if flush or p.follower.reached_end.is_set() or now >= p.deadline
            ]
            self._pending = [p for p in self._pending if p not in ready]
            for pending in ready:
                job = self._job_for(pending)
                if job is not None:
                    jobs.append(job)
                else:
                    empty.append(pending)
            ranges = [
                r
                for r in self._ranges
                if flush
                or r.follower is None
                or r.follower.reached_end.is_set()
                or now >= r.deadline
            ]
            taken = {id(r) for r in ranges}
            self._ranges = [r for r in self._ranges if id(r) not in taken]
        for pending in empty:
            self._fail(
                pending.promise(),
                ClipFailureReason.NO_VIDEO,
                "the camera gave no video for the clip's window",
            )
        for range_job in ranges:
            loaded = self._load_range(range_job)
            if loaded is not None:
                jobs.append(loaded)
        written = sum(self._committer.commit(job) for job in jobs)
        return written + self._committer.retry_due(flush=flush)

    def _job_for(self, pending: _Pending) -> ClipJob | None:
        """Under the lock: stop following, pick the packets, remember where the clip ends."""
        self._rings[pending.camera_id].unfollow(pending.follower)
        packets = select_window(
            pending.follower.packets, pending.start, pending.end, pending.anchor
        )
        if not packets:
            log.error(
                "camera %s: clip %s has no video in its window; nothing written",
                pending.camera_id,
                pending.id,
            )
            self.stats.given_up += 1
            return None
        # A later trigger starts a new clip at the last frame this one holds.
        self._finished_end[pending.camera_id] = max(
            self._finished_end.get(pending.camera_id, float("-inf")), packets[-1].captured_at
        )
        return ClipJob(
            clip_id=pending.id,
            camera_id=pending.camera_id,
            packets=tuple(packets),
            triggers=tuple(pending.triggers),
            session_id=pending.session_id,
            thumbnail_at=pending.anchor,
        )

    # -- status ---------------------------------------------------------------------------

    @property
    def pending_count(self) -> int:
        """Clips promised but not yet handed to the store (collecting, queued or retrying)."""
        with self._lock:
            waiting = len(self._pending) + len(self._ranges)
        return waiting + self._committer.retry_count

    def retry_now(self) -> None:
        """Make failed writes due at once (e.g. after the store freed space)."""
        self._committer.retry_now()
        self._wakeup.set()
