"""Heartbeats with the protocol's figures, health probes, and a clock that jumps."""

from __future__ import annotations

import json
import time
from pathlib import Path
from uuid import UUID

from agent.components import AgentParts
from agent.daemon import Daemon
from agent.health import ClockProbe, SystemProbe, parse_throttled
from agent.wiring import PartsContext
from protocol import CameraHealth, CameraState, Channel, Heartbeat, Topic, decode_as
from sideline.services.mosquitto import MosquittoBroker
from tests.agent.factories import make_log
from tests.agent.harness import TestParts, running_daemon
from tests.agent.sync.conftest import Device, RunningIngest, agent_config
from tests.mqtt_helpers import TestClient
from tests.waiting import wait_until


def camera_health() -> list[CameraHealth]:
    return [
        CameraHealth(
            camera_id="cam1",
            state=CameraState.STREAMING,
            fps=29.9,
            frames_captured=1000,
            frames_dropped=2,
            reconnects=0,
        )
    ]


def failing_provider() -> list[CameraHealth]:
    raise RuntimeError("camera driver went away")


def test_heartbeats_carry_health_backlog_and_provider_figures(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, admin: TestClient
) -> None:
    admin.subscribe(str(Topic("sideline", device.org, device.id, Channel.HEARTBEAT)))

    def parts(context: PartsContext) -> AgentParts:
        context.store.add_logs([make_log() for _ in range(3)])  # backlog: no ingest here
        return AgentParts(camera_health=[camera_health, failing_provider])

    config = agent_config(tmp_path, device, mosquitto)
    with running_daemon(config, parts=parts):  # type: ignore[arg-type]
        wait_until(lambda: admin.messages, what="a heartbeat")
    beat = decode_as(Heartbeat, admin.messages[0].payload)
    assert beat.cameras == camera_health()  # the failing provider is left out, not fatal
    assert beat.backlog.logs == 3 and beat.backlog.oldest_unsynced_age_s is not None
    assert beat.disk_total_bytes > 0 and beat.disk_free_bytes > 0
    assert beat.memory_rss_bytes and beat.memory_rss_bytes > 10_000_000
    assert beat.cpu_percent is not None and beat.load_1m is not None
    assert beat.evicted_unsynced_clips == 0


def test_soc_temperature_is_read_from_the_cpu_thermal_zone(tmp_path: Path) -> None:
    for index, (kind, millideg) in enumerate([("gpu-thermal", 41000), ("cpu-thermal", 55312)]):
        zone = tmp_path / f"thermal_zone{index}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(f"{millideg}\n")
    figures = SystemProbe(tmp_path, thermal_root=tmp_path).sample()
    assert figures.soc_temp_c == 55.312
    assert SystemProbe(tmp_path, thermal_root=tmp_path / "none").sample().soc_temp_c is None


def test_vcgencmd_throttling_bits_are_read_as_current_conditions() -> None:
    assert parse_throttled("throttled=0x0\n") is False
    assert parse_throttled("throttled=0x50005\n") is True  # under-voltage now
    assert parse_throttled("throttled=0x50000\n") is False  # only "has occurred" bits
    assert parse_throttled("garbage") is None


def test_clock_sync_state_comes_from_timedatectl_or_the_kernel() -> None:
    health = ClockProbe().sample()
    # This machine has no systemd: timedatectl cannot answer, adjtimex(2) can.
    assert health.source in ("timedatectl", "adjtimex")
    assert health.synced is not None
    no_timedatectl = ClockProbe(timedatectl="/nonexistent/timedatectl").sample()
    assert no_timedatectl.source == "adjtimex" and no_timedatectl.offset_ms is not None


class JumpingClock:
    """Wall time that an operator (or NTP after a boot without RTC) moves by hand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()


def test_a_clock_jump_is_logged_recorded_and_sync_goes_on(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, ingest: RunningIngest
) -> None:
    clock = JumpingClock()
    config = agent_config(tmp_path, device, mosquitto)
    daemon = Daemon(config, parts_factory=TestParts(), clock=clock)
    daemon.start()
    try:
        wait_until(lambda: daemon.link.subscribed, what="connected")
        clock.offset = -3 * 86_400.0  # back three days
        wait_until(
            lambda: daemon.store.database.execute_sql(
                "SELECT count(*) FROM logs WHERE body LIKE '%clock_jumped%'"
            ).fetchone()[0],
            what="the jump to be recorded",
        )
        daemon.store.add_logs([make_log() for _ in range(5)])
        wait_until(lambda: daemon.store.outbox.backlog(clock.time()).logs == 0, what="sync")
        (jump_id, body) = daemon.store.database.execute_sql(
            "SELECT id, body FROM logs WHERE body LIKE '%clock_jumped%'"
        ).fetchone()
        assert json.loads(body)["data"]["seconds"] < -86_000
        synced = {
            UUID(bytes=bytes(row[0]))
            for row in daemon.store.database.execute_sql("SELECT id FROM logs").fetchall()
        }
    finally:
        daemon.shutdown()
    # The cloud has every one of them, the jump's own record included.
    in_cloud = ingest.records(device).ids("logs")
    assert UUID(bytes=bytes(jump_id)) in in_cloud
    assert synced <= in_cloud
