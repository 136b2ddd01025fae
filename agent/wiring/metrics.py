"""The box's Prometheus metrics, served on the LAN endpoint's ``GET /metrics``.

Nothing is counted twice and nothing on the hot path changes: capture, detection,
the store and sync already keep their figures (for the heartbeat and the status
page); the collector reads them only when someone scrapes, so a box nobody
scrapes pays nothing. prometheus-client itself (about 1 MiB) is imported at the
first scrape, not at start-up. ``bench/agent_metrics.py`` measures both.

Names follow Prometheus' conventions (``sideline_agent_<what>_<unit>``, counters
``_total``); the one label is the camera id (a box has a handful).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.wiring.capture import CapturePart
from agent.wiring.status import StatusBoard
from protocol import CameraState

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from agent.wiring.detection import DetectionPart  # loaded only when detection is on

__all__ = ["AgentMetrics", "SyncFigures"]


@dataclass(frozen=True, slots=True)
class SyncFigures:
    """What the daemon's sync loops have done since start (their own counters)."""

    connected: bool
    messages_sent: int
    records_acked: int
    records_rejected: int
    messages_resent: int
    files_uploaded: int
    bytes_uploaded: int
    upload_failures: int
    upload_limit_bytes_per_s: float | None = None


class AgentMetrics:
    def __init__(
        self,
        board: StatusBoard,
        capture: CapturePart,
        detection: DetectionPart | None,
        *,
        data_dir: Path,
        sync: Callable[[], SyncFigures] | None = None,
    ) -> None:
        self._board = board
        self._capture = capture
        self._detection = detection
        self._data_dir = data_dir
        self._sync = sync
        self._lock = threading.Lock()
        self._registry: CollectorRegistry | None = None
        self._last_upload: tuple[float, int] | None = None
        self._upload_rate = 0.0

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        with self._lock:  # two scrapes at once must not interleave the rate's samples
            return generate_latest(self._registry_once()), CONTENT_TYPE_LATEST

    def _registry_once(self) -> CollectorRegistry:
        if self._registry is None:
            from prometheus_client import CollectorRegistry, ProcessCollector

            registry = CollectorRegistry(auto_describe=False)
            registry.register(ProcessCollector(registry=None))
            registry.register(self)
            self._registry = registry
        return self._registry

    # -- prometheus-client's Collector protocol ------------------------------------------

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield from self._cameras(CounterMetricFamily, GaugeMetricFamily)
        yield from self._clips(CounterMetricFamily, GaugeMetricFamily)
        yield from self._store(GaugeMetricFamily)
        yield from self._detection_metrics(CounterMetricFamily, GaugeMetricFamily)
        if self._sync is not None:
            yield from self._sync_metrics(self._sync(), CounterMetricFamily, GaugeMetricFamily)

    def _cameras(self, counter: Any, gauge: Any) -> Iterator[Any]:
        frames = counter("sideline_agent_camera_frames", "Frames captured.", labels=["camera"])
        dropped = counter("sideline_agent_camera_frames_dropped", "Frames lost.", labels=["camera"])
        reconnects = counter(
            "sideline_agent_camera_reconnects",
            "Times the camera was opened again.",
            labels=["camera"],
        )
        fps = gauge(
            "sideline_agent_camera_fps", "Frames per second, last interval.", labels=["camera"]
        )
        up = gauge(
            "sideline_agent_camera_streaming",
            "1 while the camera streams, else 0.",
            labels=["camera"],
        )
        ring = gauge(
            "sideline_agent_ring_bytes",
            "Encoded bytes held in the pre-roll ring.",
            labels=["camera"],
        )
        span = gauge(
            "sideline_agent_ring_seconds", "Time the pre-roll ring spans.", labels=["camera"]
        )
        for health in self._capture.service.health():
            camera = [health.camera_id]
            frames.add_metric(camera, health.frames_captured)
            dropped.add_metric(camera, health.frames_dropped)
            reconnects.add_metric(camera, health.reconnects)
            fps.add_metric(camera, health.fps)
            up.add_metric(camera, 1.0 if health.state is CameraState.STREAMING else 0.0)
        for camera_id, packets in self._capture.service.rings.items():
            ring.add_metric([camera_id], packets.encoded_bytes)
            span.add_metric([camera_id], packets.span_seconds)
        yield from (frames, dropped, reconnects, fps, up, ring, span)

    def _clips(self, counter: Any, gauge: Any) -> Iterator[Any]:
        writer = self._capture.service.clip_writer
        stats = writer.stats
        yield counter(
            "sideline_agent_clips_requested", "Clip requests taken.", value=stats.requested
        )
        yield counter(
            "sideline_agent_clips_written", "Clips written and stored.", value=stats.written
        )
        yield counter(
            "sideline_agent_clips_failed",
            "Clip writes that failed (retried).",
            value=stats.failed_writes,
        )
        yield counter(
            "sideline_agent_clips_rejected",
            "Clip requests refused (e.g. no such camera).",
            value=stats.rejected,
        )
        yield gauge(
            "sideline_agent_clips_in_progress",
            "Clips waiting for their post-roll.",
            value=writer.pending_count,
        )

    def _store(self, gauge: Any) -> Iterator[Any]:
        snapshot = self._board.snapshot  # sampled every 2 s: a scrape never counts the store
        backlog = gauge(
            "sideline_agent_backlog_records",
            "Records waiting for the cloud's receipt, by kind.",
            labels=["kind"],
        )
        if snapshot.backlog is not None:
            for kind in ("logs", "events", "clips"):
                backlog.add_metric([kind], getattr(snapshot.backlog, kind))
            yield backlog
            yield gauge(
                "sideline_agent_backlog_clip_bytes",
                "Bytes of clips not yet uploaded.",
                value=snapshot.backlog.clip_bytes,
            )
            yield gauge(
                "sideline_agent_backlog_oldest_seconds",
                "Age of the oldest record waiting for a receipt (0: none).",
                value=snapshot.backlog.oldest_unsynced_age_s or 0.0,
            )
        usage = shutil.disk_usage(self._data_dir)
        yield gauge(
            "sideline_agent_disk_free_bytes", "Free bytes on the store's disk.", value=usage.free
        )
        yield gauge(
            "sideline_agent_disk_total_bytes", "Size of the store's disk.", value=usage.total
        )

    def _detection_metrics(self, counter: Any, gauge: Any) -> Iterator[Any]:
        if self._detection is None:
            return
        inferences = counter(
            "sideline_agent_detection_inferences", "Inferences run.", labels=["camera"]
        )
        skipped = counter(
            "sideline_agent_detection_skipped",
            "Frames not inferred: still (the motion gate) or busy (inference was running).",
            labels=["camera", "reason"],
        )
        fps = gauge(
            "sideline_agent_detection_fps", "Inferences per second (30 s).", labels=["camera"]
        )
        latency = gauge(
            "sideline_agent_detection_latency_seconds",
            "Inference time over the last 256 inferences, by quantile.",
            labels=["camera", "quantile"],
        )
        for camera_id, stats in self._detection.worker.stats.items():
            inferences.add_metric([camera_id], stats.inferences)
            skipped.add_metric([camera_id, "still"], stats.skipped_still)
            skipped.add_metric([camera_id, "busy"], stats.skipped_busy)
            fps.add_metric([camera_id], stats.rate())
            for quantile, value in stats.latency_quantiles_ms((0.5, 0.99)).items():
                latency.add_metric([camera_id, f"{quantile:g}"], value / 1000)
        yield from (inferences, skipped, fps, latency)

    def _sync_metrics(self, figures: SyncFigures, counter: Any, gauge: Any) -> Iterator[Any]:
        yield gauge(
            "sideline_agent_mqtt_connected",
            "1 while connected to the broker.",
            value=int(figures.connected),
        )
        yield counter(
            "sideline_agent_messages_sent", "Record batches published.", value=figures.messages_sent
        )
        yield counter(
            "sideline_agent_messages_resent",
            "Batches sent again (no receipt in time).",
            value=figures.messages_resent,
        )
        receipted = counter(
            "sideline_agent_records_receipted",
            "Records the cloud answered for: stored or rejected.",
            labels=["result"],
        )
        receipted.add_metric(["stored"], figures.records_acked)
        receipted.add_metric(["rejected"], figures.records_rejected)
        yield receipted
        yield counter(
            "sideline_agent_upload_files", "Clip files uploaded.", value=figures.files_uploaded
        )
        yield counter(
            "sideline_agent_upload_bytes",
            "Bytes uploaded to the bucket.",
            value=figures.bytes_uploaded,
        )
        yield counter(
            "sideline_agent_upload_failures",
            "Upload attempts that failed.",
            value=figures.upload_failures,
        )
        yield gauge(
            "sideline_agent_upload_rate_bytes_per_second",
            "Upload rate since the previous scrape (Prometheus: rate() of "
            "sideline_agent_upload_bytes_total).",
            value=self._rate(figures.bytes_uploaded),
        )
        if figures.upload_limit_bytes_per_s is not None:
            yield gauge(
                "sideline_agent_upload_limit_bytes_per_second",
                "The configured upload cap (s3.bandwidth_limit_kbps).",
                value=figures.upload_limit_bytes_per_s,
            )

    def _rate(self, sent: int) -> float:
        now = time.monotonic()
        last, self._last_upload = self._last_upload, (now, sent)
        if last is not None and now - last[0] >= 1.0:
            self._upload_rate = max(0.0, (sent - last[1]) / (now - last[0]))
        elif last is not None:
            self._last_upload = last  # too close to the previous scrape: keep its base
        return self._upload_rate
