"""Device health from the status channel (retained, last will) and heartbeats.

Status: every worker subscribes to it without ``$share`` (retained messages are
not delivered to shared subscriptions), so each may see the same message; a
message whose id is already recorded changes nothing. That also makes the
retained re-delivery at a worker's start-up harmless. The last will has no
``since``: the time it is first received stands for it.

Heartbeats: the latest figures go on ``device_status``; each heartbeat is also a
sample (id = its message id) in a history pruned by age and count per device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from peewee import JOIN, Case, fn

from cloud.models import Camera, Device, DeviceStatus, HeartbeatSample, Organisation
from protocol import DeviceState, Heartbeat, Status

__all__ = ["FleetSummary", "apply_heartbeat", "apply_status", "fleet_summary", "prune_heartbeats"]


def _ensure_status_row(device_id: str) -> None:
    DeviceStatus.insert(device=device_id).on_conflict_ignore().execute()


def apply_status(device_id: str, status: Status, received_at: datetime) -> bool:
    """Record a status message; False when it was already recorded."""
    _ensure_status_row(device_id)
    changed = (
        DeviceStatus.update(
            state=status.state,
            since=status.since or received_at,
            reason=status.reason,
            agent_version=status.agent_version or DeviceStatus.agent_version,
            status_message_id=status.message_id,
            status_received_at=received_at,
            **(
                {"clip_limits": status.clip_limits.model_dump(mode="json")}
                if status.clip_limits is not None
                else {}
            ),
        )
        .where(
            (DeviceStatus.device == device_id)
            & (
                DeviceStatus.status_message_id.is_null()
                | (DeviceStatus.status_message_id != status.message_id)
            )
        )
        .execute()
    )
    for camera in status.cameras:
        Camera.insert(
            device=device_id,
            camera_id=camera.camera_id,
            kind=camera.kind,
            width=camera.width,
            height=camera.height,
            fps=camera.fps,
            first_seen_at=received_at,
            last_seen_at=received_at,
        ).on_conflict(
            conflict_target=[Camera.device, Camera.camera_id],
            update={
                Camera.kind: camera.kind,
                Camera.width: camera.width,
                Camera.height: camera.height,
                Camera.fps: camera.fps,
                Camera.last_seen_at: received_at,
            },
        ).execute()
    return bool(changed)


def _figures(heartbeat: Heartbeat) -> dict[str, Any]:
    """The figures a sample and the device's latest status both keep, listed once."""
    backlog = heartbeat.backlog
    return {
        "uptime_s": heartbeat.uptime_s,
        "cpu_percent": heartbeat.cpu_percent,
        "load_1m": heartbeat.load_1m,
        "memory_rss_bytes": heartbeat.memory_rss_bytes,
        "soc_temp_c": heartbeat.soc_temp_c,
        "disk_free_bytes": heartbeat.disk_free_bytes,
        "backlog_records": backlog.logs + backlog.clips + backlog.events,
        "backlog_clip_bytes": backlog.clip_bytes,
    }


def apply_heartbeat(device_id: str, heartbeat: Heartbeat, received_at: datetime) -> bool:
    """Store a heartbeat sample and, if it is the newest, the latest figures."""
    figures = _figures(heartbeat)
    inserted = (
        HeartbeatSample.insert(
            id=heartbeat.message_id,
            device=device_id,
            sent_at=heartbeat.sent_at,
            received_at=received_at,
            camera_fps={camera.camera_id: camera.fps for camera in heartbeat.cameras},
            detection_fps={item.camera_id: item.fps for item in heartbeat.detection},
            **figures,
        )
        .on_conflict_ignore()
        .as_rowcount()
        .execute()
    )
    _ensure_status_row(device_id)
    DeviceStatus.update(
        heartbeat_at=heartbeat.sent_at,
        heartbeat_received_at=received_at,
        throttled=heartbeat.throttled,
        disk_total_bytes=heartbeat.disk_total_bytes,
        oldest_unsynced_age_s=heartbeat.backlog.oldest_unsynced_age_s,
        evicted_unsynced_clips=heartbeat.evicted_unsynced_clips,
        clock_offset_ms=heartbeat.clock.offset_ms,
        # The box's clock against ours, plus the one-way delay of a QoS 0 message that is
        # never queued: a box whose clock is minutes off shows here, NTP or not.
        clock_skew_ms=round((heartbeat.sent_at - received_at).total_seconds() * 1000, 1),
        agent_version=heartbeat.agent_version or DeviceStatus.agent_version,
        heartbeat=heartbeat.model_dump(mode="json", exclude={"protocol", "org", "device_id"}),
        **figures,
    ).where(
        (DeviceStatus.device == device_id)
        & (DeviceStatus.heartbeat_at.is_null() | (DeviceStatus.heartbeat_at <= heartbeat.sent_at))
    ).execute()
    return bool(inserted)


def prune_heartbeats(device_id: str, *, keep_s: float, keep_max: int, now: datetime) -> int:
    """Drop samples older than ``keep_s`` and beyond the newest ``keep_max``."""
    removed = int(
        HeartbeatSample.delete()
        .where(
            (HeartbeatSample.device == device_id)
            & (HeartbeatSample.sent_at < now - timedelta(seconds=keep_s))
        )
        .execute()
    )
    count = (
        HeartbeatSample.select(fn.COUNT(HeartbeatSample.id))
        .where(HeartbeatSample.device == device_id)
        .scalar()
    )
    if count > keep_max:
        cutoff = (
            HeartbeatSample.select(HeartbeatSample.sent_at)
            .where(HeartbeatSample.device == device_id)
            .order_by(HeartbeatSample.sent_at.desc())
            .offset(keep_max - 1)
            .limit(1)
            .scalar()
        )
        removed += int(
            HeartbeatSample.delete()
            .where((HeartbeatSample.device == device_id) & (HeartbeatSample.sent_at < cutoff))
            .execute()
        )
    return removed


@dataclass(frozen=True, slots=True)
class FleetSummary:
    """What the whole fleet looks like from ``device_status`` (the metrics' fleet gauges)."""

    devices: dict[str, int] = field(default_factory=dict)  # online, offline, stale
    backlog_records: int = 0
    oldest_unsynced_s: float = 0.0
    top_backlogs: list[tuple[str, str, int]] = field(default_factory=list)  # org, device, n


def fleet_summary(now: datetime, *, stale_after_s: float, top: int = 20) -> FleetSummary:
    """Devices by state (``stale``: online, no heartbeat for ``stale_after_s``), the
    backlog the boxes report and the ``top`` largest backlogs: two indexed reads of
    one row per device."""
    stale_before = now - timedelta(seconds=stale_after_s)
    state = fn.COALESCE(DeviceStatus.state, DeviceState.OFFLINE.value)
    stale = (state == DeviceState.ONLINE.value) & (
        DeviceStatus.heartbeat_received_at.is_null()
        | (DeviceStatus.heartbeat_received_at < stale_before)
    )
    rows: Any = (
        Device.select(
            state.alias("state"),
            fn.SUM(Case(None, [(stale, 1)], 0)).alias("stale"),
            fn.COUNT(Device.id).alias("devices"),
            fn.COALESCE(fn.SUM(DeviceStatus.backlog_records), 0).alias("backlog"),
            fn.COALESCE(fn.MAX(DeviceStatus.oldest_unsynced_age_s), 0).alias("oldest"),
        )
        .join(DeviceStatus, JOIN.LEFT_OUTER, on=(DeviceStatus.device == Device.id))
        .where(Device.retired_at.is_null())
        .group_by(state)
        .dicts()
    )
    devices = {"online": 0, "offline": 0, "stale": 0}
    backlog, oldest = 0, 0.0
    for row in rows:
        devices[str(row["state"])] = int(row["devices"])
        devices["stale"] += int(row["stale"] or 0)
        backlog += int(row["backlog"])
        oldest = max(oldest, float(row["oldest"]))
    largest: Any = (
        DeviceStatus.select(Organisation.slug, DeviceStatus.device, DeviceStatus.backlog_records)
        .join(Device, on=(DeviceStatus.device == Device.id))
        .join(Organisation, on=(Device.org == Organisation.id))
        .where(Device.retired_at.is_null() & (DeviceStatus.backlog_records > 0))
        .order_by(DeviceStatus.backlog_records.desc())
        .limit(top)
        .tuples()
    )
    return FleetSummary(
        devices=devices,
        backlog_records=backlog,
        oldest_unsynced_s=oldest,
        top_backlogs=[(str(org), str(device), int(n)) for org, device, n in largest],
    )
