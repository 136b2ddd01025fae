"""Detection as the daemon runs it: the worker, frames from capture, model updates from the cloud.

A model that cannot be opened at start-up (missing file, wrong manifest) does
not stop the box: capture and clips matter more than detection. The error is
logged with what to fix, written to the log the cloud receives
(``detection_unavailable``), and the worker starts without a model: it
detects nothing until a model the cloud's desired state names is installed
(or the config is fixed and reloaded). ``sideline agent check`` reports the
same error before a deployment.

Model updates named by the desired state are installed on a thread of their
own (download, verify, warm up), never on the sync control thread. Only the
newest wanted model is kept; a failed installation is retried with backoff
until it succeeds or the cloud names another model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

from agent.buffer.store import LocalStore
from agent.clock import Clock
from agent.config import AgentConfig
from agent.detect.detector import Detector
from agent.detect.errors import ModelError
from agent.detect.fetch import ModelFetcher, ObjectSource
from agent.detect.install import ModelInstaller
from agent.detect.loader import open_detector, session_settings
from agent.detect.worker import DetectionWorker
from agent.sync.objectstore import S3ObjectStore
from agent.wiring.capture import CapturePart
from protocol import DesiredState, DetectionHealth, ModelRef

__all__ = ["DetectionPart", "LazyObjectSource", "ModelUpdater", "build_detection"]

log = logging.getLogger(__name__)


def build_detection(
    config: AgentConfig, store: LocalStore, capture: CapturePart, clock: Clock
) -> DetectionPart | None:
    detect = config.detect
    if not detect.enabled:
        log.info("detection is off (detect.enabled = false)")
        return None
    data_dir = config.device.data_dir
    detector: Detector | None
    try:
        detector = open_detector(detect, data_dir)
    except (ModelError, OSError) as exc:
        log.error(
            "detection waits for a model: the configured one could not be opened: %s. Fix "
            "detect.model / detect.manifest (check with `sideline agent check`), or name a "
            "model in the cloud's desired state; capture and clips go on",
            exc,
        )
        store.add_system_log("detection_unavailable", {"reason": str(exc)[:500]})
        detector = None
    camera_ids = [camera.id for camera in config.cameras]
    worker = DetectionWorker(
        detect, camera_ids, detector, store, capture.service.clip_writer, clock=clock.time
    )
    fetcher = ModelFetcher(
        LazyObjectSource(
            config.s3.bucket, lambda: S3ObjectStore(config.s3, cache_dir=data_dir / "cache")
        ),
        timeout_s=detect.download_timeout_s,
    )
    installer = ModelInstaller(
        detect,
        session_settings(detect, data_dir),
        detect.models_dir or data_dir / "models",
        worker,
        fetcher,
        store,
        clock=clock.time,
    )
    return DetectionPart(config, worker, ModelUpdater(installer), capture)


class LazyObjectSource:
    """The object store, made when the first model is downloaded: models change rarely,
    and an S3 client costs the box ~3 MiB to keep (docs/budget.md)."""

    def __init__(self, bucket: str, make: Callable[[], ObjectSource]) -> None:
        self.bucket = bucket
        self._make = make
        self._source: ObjectSource | None = None

    def open_read(self, key: str) -> tuple[int, BinaryIO]:
        if self._source is None:
            self._source = self._make()
        return self._source.open_read(key)


class ModelUpdater:
    """Installs the newest model the cloud names, on its own thread, retrying with backoff."""

    RETRY_MIN_S = 30.0
    RETRY_MAX_S = 3600.0

    def __init__(self, installer: ModelInstaller) -> None:
        self.installer = installer
        self._lock = threading.Lock()
        self._wanted: ModelRef | None = None
        self._attempts = 0
        self._retry_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.installed = 0
        self.failures = 0

    def want(self, ref: ModelRef) -> None:
        with self._lock:
            if self._wanted == ref:
                return  # the same request re-delivered: keep its backoff
            self._wanted, self._attempts, self._retry_at = ref, 0, 0.0
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="sideline-model-updater", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)  # a download in progress is abandoned, not half-installed

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                ref, due = self._wanted, self._retry_at
            wait = max(0.0, due - time.monotonic()) if ref is not None else 60.0
            if ref is None or wait > 0:
                self._wake.wait(min(wait, 60.0))
                self._wake.clear()
                continue
            result = self.installer.apply(ref)
            with self._lock:
                if self._wanted is not ref:
                    continue  # the cloud named another model meanwhile
                if result.ok:
                    self._wanted = None
                    self.installed += int(result.changed)
                else:
                    self.failures += 1
                    self._attempts += 1
                    delay = min(self.RETRY_MAX_S, self.RETRY_MIN_S * 2 ** (self._attempts - 1))
                    self._retry_at = time.monotonic() + delay
                    log.warning("model %s: retrying in %.0f s", ref.sha256, delay)


class DetectionPart:
    name = "detection"

    def __init__(
        self,
        config: AgentConfig,
        worker: DetectionWorker,
        updater: ModelUpdater,
        capture: CapturePart,
    ) -> None:
        self.worker = worker
        self.updater = updater
        self._capture = capture
        self._liveness_s = config.daemon.liveness_timeout_s
        self._decoded_reported: dict[str, int] = {}
        self._health_lock = threading.Lock()
        detect = config.detect
        for camera in config.cameras:
            fps = detect.camera(camera.id).fps or detect.fps
            capture.service.add_frame_listener(camera.id, worker.on_frame, fps)

    def start(self) -> None:
        self.worker.start()
        self.updater.start()

    def stop(self, timeout_s: float) -> None:
        self.updater.stop(min(2.0, timeout_s))
        self.worker.stop(timeout_s)

    def alive(self) -> bool:
        return self.worker.alive(self._liveness_s) and self.updater.alive()

    def health(self) -> list[DetectionHealth]:
        """What the heartbeat and the status page both show (the same figures)."""
        # Frames capture decoded only for detection (single-stream cameras), as a running total;
        # the heartbeat's and the status board's threads both ask.
        with self._health_lock:
            for camera_id in self.worker.pipelines:
                total = self._capture.service.frames_decoded(camera_id)
                new = total - self._decoded_reported.get(camera_id, 0)
                if new > 0:
                    self.worker.record_decoded(camera_id, new)
                    self._decoded_reported[camera_id] = total
        return self.worker.health()

    def apply_desired(self, state: DesiredState) -> None:
        self.worker.apply_toggles(state.detection)
        running = self.worker.detector
        if state.model is not None and (
            running is None or state.model.sha256 != running.model.sha256
        ):
            self.updater.want(state.model)
