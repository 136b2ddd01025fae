"""The agent daemon: wires capture → detect/clips → buffer → sync and owns every lifetime.

Start-up: open the store (quarantining a corrupt one), start its housekeeping,
the MQTT link, the record publisher, the clip uploader, the control channel
(desired state, commands) and the heartbeat; then the parts capture and
detection provide (:mod:`agent.wiring`); then tell systemd READY=1 and feed its
watchdog while every loop ticks.

Shutdown (SIGTERM, a ``reload_config`` command, or a loop that died): producers
first, so their last clips and records reach the store; then the uploader
(between two parts: the multipart upload resumes next time), then sync, which
waits up to ``sync.shutdown_drain_s`` for outstanding receipts and PUBACKs,
publishes the retained ``offline`` status and disconnects; the store last. The
whole is bounded by ``daemon.shutdown_timeout_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from agent.buffer.maintenance import StoreMaintenance
from agent.buffer.store import LocalStore, StoreIdentity
from agent.clock import Clock, SystemClock
from agent.components import AgentParts, LeftOut
from agent.config import AgentConfig, load_agent_config
from agent.health import ClockProbe, SystemProbe
from agent.sync.commands import CommandProcessor
from agent.sync.control import ControlChannel
from agent.sync.desired import DesiredStateKeeper
from agent.sync.heartbeat import HeartbeatPublisher
from agent.sync.link import MqttLink
from agent.sync.objectstore import ObjectStore, S3ObjectStore
from agent.sync.publisher import RecordPublisher
from agent.sync.throttle import TokenBucket
from agent.sync.uploader import ClipUploader
from agent.systemd_notify import SystemdNotifier
from agent.watchdog import WatchdogFeeder
from agent.wiring import PartsContext, PartsFactory, build_parts
from agent.wiring.metrics import SyncFigures
from core import __version__
from protocol import Backlog, CameraSummary, ClipLimits, DeviceState, Status, encode, utc_now

__all__ = ["Daemon", "ExitReason"]

log = logging.getLogger(__name__)


class ExitReason(StrEnum):
    STOPPED = "stopped"  # SIGTERM / SIGINT
    RESTART = "restart"  # reload_config: exec again with the same command line
    FAILED = "failed"  # a loop died: exit non-zero, systemd restarts us


class _Loop:
    """A thread running one part's ``run()``; if it ends on its own, the daemon stops."""

    def __init__(
        self,
        name: str,
        target: Callable[[], None],
        on_exit: Callable[[str, bool], None],
        release: Callable[[], None],
    ) -> None:
        self.name = name
        self._target = target
        self._on_exit = on_exit
        self._release = release
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        failed = False
        try:
            self._target()
        except BaseException:
            failed = True
            log.critical("the %s loop crashed", self.name, exc_info=True)
        finally:
            self._release()  # this thread's store connection
        self._on_exit(self.name, failed)

    def start(self) -> None:
        self.thread.start()

    def join(self, deadline: float) -> None:
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():
            log.error("the %s loop did not stop in time", self.name)


class Daemon:
    def __init__(
        self,
        config: AgentConfig,
        *,
        notifier: SystemdNotifier | None = None,
        parts_factory: PartsFactory = build_parts,
        clock: Clock | None = None,
        object_store: ObjectStore | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self.notifier = notifier or SystemdNotifier(None)
        self._parts_factory = parts_factory
        self.clock = clock or SystemClock()
        self._object_store = object_store
        self._config_path = config_path
        self._stop = threading.Event()
        self._reason = ExitReason.STOPPED
        self._stopping = False
        self._loops: list[_Loop] = []
        self.parts = AgentParts()
        self.left_out = LeftOut()
        self._backlog: tuple[float, Backlog] | None = None
        device = config.device
        self.store = LocalStore(
            config.buffer,
            path=config.buffer.database or device.data_dir / "buffer.db",
            identity=StoreIdentity(device.org, device.id),
            clock=self.clock,
        )

    @property
    def exit_reason(self) -> ExitReason:
        return self._reason

    # --- life cycle ----------------------------------------------------------

    def run(self) -> ExitReason:
        self.start()
        try:
            self.wait()
        finally:
            self.shutdown()
        return self._reason

    def request_stop(self, reason: ExitReason = ExitReason.STOPPED) -> None:
        if not self._stop.is_set():
            self._reason = reason
            log.info("stopping (%s)", reason.value)
        self._stop.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until a stop is requested; True if it was."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._stop.is_set():
            if self.store.corrupt.is_set():
                self.request_stop(ExitReason.FAILED)
                break
            remaining = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if remaining <= 0:
                return False
            self._stop.wait(remaining)
        return True

    def start(self) -> None:
        config = self.config
        self.store.open()
        if self.store.quarantined is not None:
            self.notifier.status(f"store was corrupt: moved to {self.store.quarantined.moved_to}")
        liveness = config.daemon.liveness_timeout_s
        self.maintenance = StoreMaintenance(self.store)
        self.link = MqttLink(
            config.mqtt,
            org=config.device.org,
            device_id=config.device.id,
            online_status=self._online_status,
            offline_status=encode(self._status(DeviceState.OFFLINE, since=False)),
            max_in_flight=3 * config.sync.window_messages,
        )
        self.publisher = RecordPublisher(
            self.store,
            self.link,
            config.sync,
            clock=self.clock,
            max_retry_delay_s=config.sync.upload_retry_max_s,
        )
        self.uploader = ClipUploader(
            self.store, self._build_object_store(), config.s3, config.sync, clock=self.clock
        )
        keeper = DesiredStateKeeper(self.store, self.parts.desired_listeners, clock=self.clock)
        context = PartsContext(
            config,
            self.store,
            self.clock,
            keeper.active_session,
            left_out=self.left_out,
            sync=self._sync_figures,
        )
        self.parts.extend(self._parts_factory(context))
        if self.parts.targets.reload_config is None and self._config_path is not None:
            self.parts.targets.reload_config = self._reload_config
        self.control = ControlChannel(
            CommandProcessor(
                self.store,
                self.link,
                self.parts.targets,
                clock=self.clock,
                active_session=keeper.active_session,
            ),
            keeper,
        )
        self.link.add_listener(self.control)
        self.heartbeat = HeartbeatPublisher(
            self.store,
            self.link,
            interval_s=config.health.heartbeat_interval_s,
            system=SystemProbe(self.store.path.parent),
            clock_probe=ClockProbe(),
            camera_health=self.parts.camera_health,
            detection_health=self.parts.detection_health,
            clock=self.clock,
            agent_version=__version__,
        )
        self.store.clock_offset_ms = self.heartbeat.clock_offset_ms
        for name, target in (
            ("store-maintenance", self.maintenance.run),
            ("mqtt", self.link.run),
            ("publisher", self.publisher.run),
            ("uploader", self.uploader.run),
            ("control", self.control.run),
            ("heartbeat", self.heartbeat.run),
        ):
            self._start_loop(name, target)
        self._start_components()
        upload_window = max(liveness, config.s3.timeout_s * 3)
        checks: dict[str, Callable[[], bool]] = {
            "store": lambda: self.store.writer_alive(liveness) and self.maintenance.alive(liveness),
            "mqtt": lambda: self.link.alive(liveness),
            "sync": lambda: self.publisher.alive(liveness) and self.control.alive(liveness),
            "uploads": lambda: self.uploader.alive(upload_window),
        }
        for component in self.parts.components:
            checks[component.name] = component.alive
        interval = self.notifier.watchdog_interval_s
        self.watchdog = WatchdogFeeder(
            self.notifier, checks, status=self._status_line, interval_s=(interval or 20.0) / 2
        )
        self.notifier.ready(self._status_line())
        self._start_loop("watchdog", self.watchdog.run)
        log.info(
            "agent %s/%s running (store %s, broker %s:%s)",
            config.device.org,
            config.device.id,
            self.store.path,
            config.mqtt.host,
            config.mqtt.port,
        )

    def shutdown(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._stop.set()
        deadline = time.monotonic() + self.config.daemon.shutdown_timeout_s
        self.notifier.stopping()
        for component in reversed(self.parts.components):
            try:
                component.stop(max(1.0, (deadline - time.monotonic()) / 2))
            except Exception:
                log.exception("stopping %s failed", component.name)
        for part in (self.uploader, self.control, self.heartbeat, self.maintenance, self.watchdog):
            part.stop()
        drain = min(self.config.sync.shutdown_drain_s, max(0.0, deadline - time.monotonic() - 3))
        self.publisher.stop(drain_s=drain)
        self._join("publisher", deadline - 2)
        self.link.stop(drain_s=min(2.0, max(0.0, deadline - time.monotonic() - 1)))
        for loop in self._loops:
            loop.join(deadline)
        self.link.close()
        self.store.close()
        self.notifier.close()
        log.info("agent stopped (%s)", self._reason.value)

    # --- helpers -------------------------------------------------------------

    def _start_components(self) -> None:
        """Start capture, detection and the triggers in order. One that cannot start (a
        busy GPIO pin or port, an unwritable clip folder) is left out, said in the log and
        in the cloud's log; the others and sync run on, so nothing already stored is lost."""
        started = []
        for component in self.parts.components:
            log.info("starting %s", component.name)
            try:
                component.start()
            except Exception as exc:
                log.critical("%s could not start and is left out: %s", component.name, exc)
                self.left_out.add(component.name, str(exc))
                self.store.add_system_log(
                    "component_failed", {"component": component.name, "reason": str(exc)[:500]}
                )
                try:
                    component.stop(1.0)
                except Exception:
                    log.debug("stopping the failed %s", component.name, exc_info=True)
                continue
            started.append(component)
        self.parts.components[:] = started

    def _start_loop(self, name: str, target: Callable[[], None]) -> None:
        loop = _Loop(name, target, self._loop_ended, self.store.release_thread)
        self._loops.append(loop)
        loop.start()

    def _loop_ended(self, name: str, failed: bool) -> None:
        if not self._stop.is_set():
            log.critical("the %s loop ended while the agent was running; stopping", name)
            self.request_stop(ExitReason.FAILED)

    def _join(self, name: str, deadline: float) -> None:
        for loop in self._loops:
            if loop.name == name:
                loop.join(deadline)

    def _build_object_store(self) -> ObjectStore:
        if self._object_store is not None:
            return self._object_store
        limit = self.config.s3.bandwidth_limit_kbps
        throttle = TokenBucket(limit * 1000 / 8) if limit else None
        return S3ObjectStore(
            self.config.s3,
            throttle=throttle,
            on_progress=lambda sent: self.uploader.tick(sent),
            cache_dir=self.config.device.data_dir / "cache",
        )

    def _reload_config(self) -> str:
        assert self._config_path is not None
        load_agent_config(
            self._config_path
        )  # raises ConfigError: the command fails, we keep running
        self.notifier.reloading()
        threading.Timer(0.5, self.request_stop, args=(ExitReason.RESTART,)).start()
        return f"configuration {self._config_path} is valid; restarting the agent to apply it"

    def _status(self, state: DeviceState, *, since: bool = True) -> Status:
        cameras = [
            CameraSummary(
                camera_id=camera.id,
                kind=camera.kind,
                width=getattr(camera, "width", None),
                height=getattr(camera, "height", None),
                fps=getattr(camera, "fps", None),
            )
            for camera in self.config.cameras
        ]
        clips = self.config.clips
        return Status(
            org=self.config.device.org,
            device_id=self.config.device.id,
            state=state,
            since=utc_now() if since else None,
            agent_version=__version__,
            cameras=cameras,
            clip_limits=ClipLimits(
                max_lag_s=clips.max_post_seconds,
                max_range_s=self.config.recording.max_range_seconds,
                max_pre_s=clips.max_pre_seconds,
                max_post_s=clips.max_post_seconds,
            ),
        )

    def _sync_figures(self) -> SyncFigures:
        """The sync loops' own counters, for the box's /metrics."""
        sent, uploads = self.publisher.stats, self.uploader.stats
        limit = self.config.s3.bandwidth_limit_kbps
        return SyncFigures(
            connected=self.link.connected,
            messages_sent=sent.messages_sent,
            records_acked=sent.records_acked,
            records_rejected=sent.records_rejected,
            messages_resent=sent.resent_messages,
            files_uploaded=uploads.files_uploaded,
            bytes_uploaded=uploads.bytes_uploaded,
            upload_failures=uploads.failures,
            upload_limit_bytes_per_s=limit * 1000 / 8 if limit else None,
        )

    def _online_status(self) -> bytes:
        return encode(self._status(DeviceState.ONLINE))

    def _status_line(self) -> str:
        link = "online" if self.link.subscribed else "offline"
        # Counting a backlog of a million rows takes ~0.3 s: at most every 30 s.
        now = time.monotonic()
        if self._backlog is None or now - self._backlog[0] > 30:
            try:
                self._backlog = (now, self.store.outbox.backlog(self.clock.time()))
            except Exception:
                return f"{link}; store busy"
        backlog = self._backlog[1]
        left_out = ", ".join(name for name, _ in self.left_out.items())
        return (
            f"{link}; backlog {backlog.logs} logs, {backlog.events} events, {backlog.clips} clips; "
            f"{len(self.parts.components)} parts running"
            + (f"; left out: {left_out} (see the log)" if left_out else "")
        )
