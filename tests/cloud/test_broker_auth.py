"""Generated Mosquitto files keep each device in its own topics (real Mosquitto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import Database

from cloud.devices.broker_auth import BrokerFiles, render_acl, write_broker_files
from cloud.devices.registry import DeviceCredentials, create_device, retire_device
from sideline.services.mosquitto import find_mosquitto
from sideline.services.process import ManagedProcess, free_port, port_is_open
from tests.cloud.factories import make_org
from tests.mqtt_helpers import TestClient, connect

SERVICE = ("sideline-ingest", "ingest-secret")


class GeneratedBroker:
    """Mosquitto reading exactly the files the generator wrote."""

    def __init__(self, folder: Path, files: BrokerFiles) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        config = folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} {self.host}\nallow_anonymous false\npersistence false\n"
            f"password_file {files.password_file}\nacl_file {files.acl_file}\n"
            + ("user root\n" if _root() else "")
        )
        self.process = ManagedProcess(
            "mosquitto", [find_mosquitto(), "-c", str(config)], log_path=folder / "log"
        )
        self.process.start()
        self.process.wait_until(
            lambda: port_is_open(self.host, self.port), timeout_s=10, what="its port"
        )

    def reload(self) -> None:
        import signal

        self.process.send_signal(signal.SIGHUP)


def _root() -> bool:
    import os

    return os.geteuid() == 0


@pytest.fixture
def two_boxes(sqlite_db: Database) -> tuple[DeviceCredentials, DeviceCredentials]:
    make_org("org-a")
    make_org("org-b")
    return (
        create_device("org-a", "Box A", device_id="box-a"),
        create_device("org-b", "Box B", device_id="box-b"),
    )


@pytest.fixture
def broker(
    tmp_path: Path, two_boxes: tuple[DeviceCredentials, DeviceCredentials]
) -> Iterator[GeneratedBroker]:
    files = write_broker_files(tmp_path / "auth", prefix="sideline", services=dict([SERVICE]))
    assert files.devices == 2
    assert oct(files.password_file.stat().st_mode & 0o777) == "0o600"
    running = GeneratedBroker(tmp_path, files)
    yield running
    running.process.stop()


def _login(broker: GeneratedBroker, username: str, password: str) -> TestClient:
    return connect(broker, username, password, client_id=f"t-{username}")  # type: ignore[arg-type]


def test_a_device_publishes_only_into_its_own_topics(
    broker: GeneratedBroker, two_boxes: tuple[DeviceCredentials, DeviceCredentials]
) -> None:
    a, b = two_boxes
    ingest = _login(broker, *SERVICE)
    box_a = _login(broker, a.mqtt_username, a.mqtt_password)
    try:
        ingest.subscribe("$share/ingest/sideline/v1/+/+/logs")
        box_a.publish("sideline/v1/org-b/box-b/logs", b"into b's topic")
        box_a.publish("sideline/v1/org-b/box-b/heartbeat", b"as b")
        box_a.publish("sideline/v1/org-a/box-a/logs", b"own")
        received = ingest.wait_for(1)
        assert [(m.topic, m.payload) for m in received] == [
            ("sideline/v1/org-a/box-a/logs", b"own")
        ]
        assert ingest.wait_for(2, timeout=1.0) == received
    finally:
        ingest.close()
        box_a.close()


def test_a_device_reads_only_its_own_commands(
    broker: GeneratedBroker, two_boxes: tuple[DeviceCredentials, DeviceCredentials]
) -> None:
    a, _ = two_boxes
    cloud = _login(broker, *SERVICE)
    box_a = _login(broker, a.mqtt_username, a.mqtt_password)
    try:
        # Mosquitto grants the SUBSCRIBE the ACL denies; it just never delivers.
        box_a.subscribe("sideline/v1/org-b/box-b/commands")
        box_a.subscribe("sideline/v1/+/+/receipts")
        box_a.subscribe("sideline/v1/org-a/box-a/commands")
        cloud.publish("sideline/v1/org-b/box-b/commands", b"for b")
        cloud.publish("sideline/v1/org-b/box-b/receipts", b"b's receipt")
        cloud.publish("sideline/v1/org-a/box-a/commands", b"for a")
        got = box_a.wait_for(1)
        assert box_a.wait_for(2, timeout=1.0) == got
        assert [(m.topic, m.payload) for m in got] == [
            ("sideline/v1/org-a/box-a/commands", b"for a")
        ]
    finally:
        cloud.close()
        box_a.close()


def test_wrong_and_retired_credentials_are_refused(
    tmp_path: Path, broker: GeneratedBroker, two_boxes: tuple[DeviceCredentials, DeviceCredentials]
) -> None:
    a, b = two_boxes
    with pytest.raises(ConnectionRefusedError):
        _login(broker, a.mqtt_username, b.mqtt_password)
    retire_device(b.device_id)
    write_broker_files(tmp_path / "auth", prefix="sideline", services=dict([SERVICE]))
    broker.reload()
    import time

    deadline = time.monotonic() + 10
    while True:  # SIGHUP is asynchronous: wait until the broker has re-read the file
        try:
            _login(broker, b.mqtt_username, b.mqtt_password).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "retired device still accepted"
        time.sleep(0.1)
    _login(broker, a.mqtt_username, a.mqtt_password).close()


def test_the_acl_names_every_channel_once() -> None:
    acl = render_acl("sideline", ["svc"], shared_group="ingest")
    for channel in ("status", "heartbeat", "logs", "clips", "events", "acks"):
        assert f"pattern write sideline/v1/+/%u/{channel}\n" in acl
        assert f"topic read $share/ingest/sideline/v1/+/+/{channel}\n" in acl
    for channel in ("desired", "commands", "receipts"):
        assert f"pattern read sideline/v1/+/%u/{channel}\n" in acl
        assert f"topic write sideline/v1/+/+/{channel}\n" in acl
    assert "readwrite" not in acl and "#" not in acl.replace("# ", "")
