"""Devices on the real broker and object store, agent configs, and the cloud's real ingest.

Devices that talk to the ingest are registered in the cloud's database (a
PostgreSQL database of this session) as ``sideline cloud device add`` does; the
ingest is ``sideline cloud ingest`` in its own process (tests.agent.sync.cloud_ingest).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.config import AgentConfig
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.postgres import TemporaryDatabase
from sideline.services.seaweed import SeaweedS3
from tests.agent.sync.cloud_ingest import (
    CloudRecords,
    IngestProcess,
    IngestTotals,
    prepare_cloud_database,
    register_box,
)
from tests.fixtures.services import MQTT_ADMIN
from tests.mqtt_helpers import TestClient, connect
from tests.waiting import wait_until


@dataclass(frozen=True)
class Device:
    org: str
    id: str
    password: str
    s3_key: str | None = None
    s3_secret: str | None = None


def register_device(broker: MosquittoBroker, device_id: str, password: str) -> None:
    users = dict(broker.users)
    users[device_id] = password
    broker.reload(users=users)
    wait_until(
        lambda: _can_log_in(broker, device_id, password),
        timeout_s=10,
        what=f"the broker to accept {device_id}",
    )


def _can_log_in(broker: MosquittoBroker, username: str, password: str) -> bool:
    try:
        connect(broker, username, password).close()
    except (ConnectionRefusedError, AssertionError):
        return False
    return True


def new_device(broker: MosquittoBroker) -> Device:
    """A fresh device (own id, so retained topics never leak between tests) on the broker
    only: the cloud does not know it (see :func:`cloud_device`)."""
    found = Device("org1", f"dev-{secrets.token_hex(4)}", secrets.token_hex(8))
    register_device(broker, found.id, found.password)
    return found


@pytest.fixture(scope="session")
def cloud_db_url(postgres_admin_url: str) -> Iterator[str]:
    """The cloud's database for the agent's tests: migrated, with organisation ``org1``.

    Shared by the session; every test's device has its own id, and the tests read
    only their device's rows.
    """
    database = TemporaryDatabase(postgres_admin_url, prefix="sideline_agent_cloud")
    url = database.create()
    prepare_cloud_database(url)
    yield url
    database.drop()


def cloud_device(
    cloud_db_url: str, broker: MosquittoBroker, seaweed: SeaweedS3 | None = None
) -> Device:
    """A device registered in the cloud (so the ingest takes its records) and on the broker."""
    box = register_box(cloud_db_url, seaweed=seaweed)
    register_device(broker, box.id, box.password)
    return Device(box.org, box.id, box.password, box.s3_key, box.s3_secret)


@pytest.fixture
def device(mosquitto: MosquittoBroker, cloud_db_url: str) -> Device:
    return cloud_device(cloud_db_url, mosquitto)


@pytest.fixture(scope="session")
def s3_device(mosquitto: MosquittoBroker, seaweed: SeaweedS3, cloud_db_url: str) -> Device:
    """One device with a prefix-scoped S3 key, shared by the upload tests (clip ids differ)."""
    return cloud_device(cloud_db_url, mosquitto, seaweed)


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
    """The cloud's ingest, and what its database holds."""

    process: IngestProcess
    database_url: str

    def records(self, device: Device) -> CloudRecords:
        return CloudRecords(self.database_url, device.id)

    def stop(self) -> IngestTotals:
        return self.process.stop()


def start_ingest(
    broker: MosquittoBroker,
    database_url: str,
    work_dir: Path,
    *,
    seaweed: SeaweedS3 | None = None,
    worker_id: str | None = None,
    **ingest_settings: Any,
) -> RunningIngest:
    """``sideline cloud ingest`` on ``broker`` into ``database_url``, subscribed when this returns.

    It has its own ``$share`` group: nothing else on a shared broker takes its messages.
    """
    process = IngestProcess(
        work_dir, broker, database_url, seaweed=seaweed, worker_id=worker_id, ingest=ingest_settings
    )
    process.start()
    return RunningIngest(process, database_url)


@pytest.fixture
def ingest(
    mosquitto: MosquittoBroker, cloud_db_url: str, tmp_path: Path
) -> Iterator[RunningIngest]:
    running = start_ingest(mosquitto, cloud_db_url, tmp_path / "cloud")
    yield running
    running.stop()


@pytest.fixture
def admin(mosquitto: MosquittoBroker) -> Iterator[TestClient]:
    """The cloud's side of the broker: publish commands, watch acks and status."""
    client = connect(mosquitto, *MQTT_ADMIN)
    yield client
    client.close()
