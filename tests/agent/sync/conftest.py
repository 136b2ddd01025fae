"""Devices on the real broker and object store, agent configs, and the ingest stand-in."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.config import AgentConfig
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.seaweed import S3Identity, SeaweedS3
from tests.fixtures.services import MQTT_ADMIN, S3_BUCKET
from tests.mqtt_helpers import TestClient, connect
from tests.standin_ingest import IngestLedger, IngestSettings, StandInIngest


@dataclass(frozen=True)
class Device:
    org: str
    id: str
    password: str
    s3_key: str | None = None
    s3_secret: str | None = None


def wait_until(condition: Callable[[], object], *, timeout_s: float = 30.0, what: str) -> None:
    """Poll until ``condition()`` is truthy; fail naming ``what`` (a bound, not a benchmark)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def register_device(broker: MosquittoBroker, device_id: str, password: str) -> None:
    users = dict(broker.users)
    users[device_id] = password
    broker.reload(users=users)

    def can_log_in() -> bool:
        try:
            connect(broker, device_id, password).close()
        except (ConnectionRefusedError, AssertionError):
            return False
        return True

    wait_until(can_log_in, timeout_s=10, what=f"the broker to accept {device_id}")


def new_device(broker: MosquittoBroker) -> Device:
    """A fresh device (own id, so retained topics never leak between tests) on the broker."""
    found = Device("org1", f"dev-{secrets.token_hex(4)}", secrets.token_hex(8))
    register_device(broker, found.id, found.password)
    return found


@pytest.fixture
def device(mosquitto: MosquittoBroker) -> Device:
    return new_device(mosquitto)


@pytest.fixture(scope="session")
def s3_device(mosquitto: MosquittoBroker, seaweed: SeaweedS3) -> Device:
    """One device with a prefix-scoped S3 key, shared by the upload tests (clip ids differ)."""
    device_id = f"s3dev-{secrets.token_hex(3)}"
    identity = S3Identity(
        device_id,
        f"{device_id}-key",
        secrets.token_hex(12),
        actions=[f"Write:{S3_BUCKET}/org1/{device_id}/*", f"Read:{S3_BUCKET}/org1/{device_id}/*"],
    )
    seaweed.add_identity(identity)
    password = secrets.token_hex(8)
    register_device(mosquitto, device_id, password)
    return Device("org1", device_id, password, identity.access_key, identity.secret_key)


def agent_config(
    tmp_path: Path,
    device: Device,
    broker: MosquittoBroker,
    seaweed: SeaweedS3 | None = None,
    **sections: dict[str, Any],
) -> AgentConfig:
    values: dict[str, Any] = {
        "device": {"org": device.org, "id": device.id, "data_dir": str(tmp_path / "data")},
        "cameras": [{"id": "cam1", "kind": "test"}],
        "mqtt": {
            "port": broker.port,
            "username": device.id,
            "password": device.password,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 2.0,
            "keepalive_s": 5,
        },
        "buffer": {"reserve_bytes": 0, "min_free_bytes": 0, "hard_min_free_bytes": 0},
        "sync": {"receipt_timeout_s": 10, "upload_retry_min_s": 0.2, "upload_retry_max_s": 2},
        "health": {"heartbeat_interval_s": 1},
        "daemon": {"shutdown_timeout_s": 10},
        "logging": {"journald": False},
    }
    if seaweed is not None:
        values["s3"] = {
            "endpoint_url": seaweed.endpoint_url,
            "addressing_style": "path",
            "access_key_id": device.s3_key,
            "secret_access_key": device.s3_secret,
            "multipart_threshold_bytes": 5 * 1024**2,
            "part_size_bytes": 5 * 1024**2,
        }
    for name, overrides in sections.items():
        values[name] = {**values.get(name, {}), **overrides}
    return AgentConfig(**values)


def config_json(config: AgentConfig) -> str:
    """The config for a child process, secrets included (pydantic masks them in JSON)."""

    def plain(value: object) -> object:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value)

    return json.dumps(config.model_dump(exclude_none=True), default=plain)


@dataclass
class RunningIngest:
    ledger: IngestLedger
    stop: Callable[[], None]
    ingest: StandInIngest


def start_ingest(
    broker: MosquittoBroker,
    db_path: Path,
    *,
    seaweed: SeaweedS3 | None = None,
    delay_s: float = 0.0,
) -> RunningIngest:
    """THE seam to the cloud ingest: swap StandInIngest for cloud.ingest here, and only here."""
    suffix = secrets.token_hex(3)
    ingest = StandInIngest(
        IngestSettings(
            broker.host,
            broker.port,
            MQTT_ADMIN[0],
            MQTT_ADMIN[1],
            db_path,
            client_id=f"standin-{suffix}",
            group=f"ingest-{suffix}",
            delay_s=delay_s,
            s3=seaweed.client() if seaweed else None,
            bucket=S3_BUCKET,
        )
    )
    ingest.start()
    wait_until(ingest.connected.is_set, timeout_s=10, what="the ingest to connect")
    time.sleep(0.2)  # its SUBACK: shared subscriptions are in place before records flow
    return RunningIngest(IngestLedger(db_path), ingest.stop, ingest)


@pytest.fixture
def ingest(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[RunningIngest]:
    running = start_ingest(mosquitto, tmp_path / "cloud.db")
    yield running
    running.stop()


@pytest.fixture
def admin(mosquitto: MosquittoBroker) -> Iterator[TestClient]:
    """The cloud's side of the broker: publish commands, watch acks and status."""
    client = connect(mosquitto, *MQTT_ADMIN)
    yield client
    client.close()
