"""Generated Mosquitto files keep each device in its own topics (real Mosquitto)."""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from peewee import Database

import protocol as p
from cloud.config import CloudConfig, CloudMqttConfig
from cloud.devices.broker_auth import (
    BrokerFiles,
    Listener,
    render_cloud_acl,
    render_device_acl,
    write_broker_files,
)
from cloud.devices.registry import DeviceCredentials, create_device, retire_device
from cloud.models import Log
from cloud.mqtt import cloud_client_id
from sideline.services.mosquitto import find_mosquitto
from sideline.services.process import ManagedProcess, free_port, port_is_open
from tests.agent.sync.test_tls import make_certificates
from tests.cloud.factories import make_org
from tests.cloud.ingest.helpers import log_batch, running_ingest
from tests.mqtt_helpers import TestClient, connect
from tests.waiting import wait_until

SERVICE = ("sideline-ingest", "ingest-secret")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


class GeneratedBroker:
    """Mosquitto reading exactly the files the generator wrote (its listeners included)."""

    def __init__(self, folder: Path, files: BrokerFiles) -> None:
        self.devices = Endpoint("127.0.0.1", int(_listen_port(files, 0)))
        self.cloud = Endpoint("127.0.0.1", int(_listen_port(files, 1)))
        config = folder / "mosquitto.conf"
        config.write_text(
            "persistence false\n"
            + ("user root\n" if os.geteuid() == 0 else "")
            + f"include_dir {files.listeners_file.parent / 'conf.d'}\n"
        )
        (files.listeners_file.parent / "conf.d").mkdir(exist_ok=True)
        (files.listeners_file.parent / "conf.d" / "listeners.conf").write_text(
            files.listeners_file.read_text()
        )
        self.process = ManagedProcess(
            "mosquitto", [find_mosquitto(), "-c", str(config)], log_path=folder / "log"
        )
        self.process.start()
        self.process.wait_until(
            lambda: (
                port_is_open("127.0.0.1", self.devices.port)
                and port_is_open("127.0.0.1", self.cloud.port)
            ),
            timeout_s=10,
            what="its ports",
        )

    def reload(self) -> None:
        self.process.send_signal(signal.SIGHUP)


def _listen_port(files: BrokerFiles, which: int) -> str:
    lines = files.listeners_file.read_text().splitlines()
    return [line.split()[1] for line in lines if line.startswith("listener ")][which]


@pytest.fixture
def two_boxes(sqlite_db: Database) -> tuple[DeviceCredentials, DeviceCredentials]:
    make_org("org-a")
    make_org("org-b")
    return (
        create_device("org-a", "Box A", device_id="box-a"),
        create_device("org-b", "Box B", device_id="box-b"),
    )


def _write(folder: Path, ports: tuple[int, int]) -> BrokerFiles:
    return write_broker_files(
        folder,
        prefix="sideline",
        services=dict([SERVICE]),
        devices_listener=Listener(ports[0], "127.0.0.1"),
        cloud_listener=Listener(ports[1], "127.0.0.1"),
    )


@pytest.fixture
def broker(
    tmp_path: Path, two_boxes: tuple[DeviceCredentials, DeviceCredentials]
) -> Iterator[GeneratedBroker]:
    files = _write(tmp_path / "auth", (free_port(), free_port()))
    assert files.devices == 2
    for path in (files.device_passwords, files.cloud_passwords, files.device_acl, files.cloud_acl):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    running = GeneratedBroker(tmp_path, files)
    yield running
    running.process.stop()


def _device(broker: GeneratedBroker, username: str, password: str, **kwargs: str) -> TestClient:
    kwargs.setdefault("client_id", f"t-{username}")
    return connect(broker.devices, username, password, **kwargs)  # type: ignore[arg-type]


def _cloud(broker: GeneratedBroker, username: str, password: str) -> TestClient:
    return connect(broker.cloud, username, password, client_id=f"t-{username}")  # type: ignore[arg-type]


def test_a_device_publishes_only_into_its_own_topics(
    broker: GeneratedBroker, two_boxes: tuple[DeviceCredentials, DeviceCredentials]
) -> None:
    a, _b = two_boxes
    ingest = _cloud(broker, *SERVICE)
    box_a = _device(broker, a.mqtt_username, a.mqtt_password)
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
    cloud = _cloud(broker, *SERVICE)
    box_a = _device(broker, a.mqtt_username, a.mqtt_password)
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
        _device(broker, a.mqtt_username, b.mqtt_password)
    retire_device(b.device_id)
    _write(tmp_path / "auth", (broker.devices.port, broker.cloud.port))
    broker.reload()
    deadline = time.monotonic() + 10
    while True:  # SIGHUP is asynchronous: wait until the broker has re-read the file
        try:
            _device(broker, b.mqtt_username, b.mqtt_password).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "retired device still accepted"
        time.sleep(0.1)
    _device(broker, a.mqtt_username, a.mqtt_password).close()


def test_each_credential_logs_in_only_on_its_own_listener(
    broker: GeneratedBroker, two_boxes: tuple[DeviceCredentials, DeviceCredentials]
) -> None:
    a, _ = two_boxes
    with pytest.raises(ConnectionRefusedError):
        connect(broker.cloud, a.mqtt_username, a.mqtt_password)  # type: ignore[arg-type]
    with pytest.raises(ConnectionRefusedError):
        connect(broker.devices, *SERVICE)  # type: ignore[arg-type]


def test_a_device_using_the_ingests_client_id_cannot_disconnect_it(
    broker: GeneratedBroker,
    two_boxes: tuple[DeviceCredentials, DeviceCredentials],
    sqlite_db: Database,
) -> None:
    """The attack that knocked the ingest off the broker: a device connecting, again
    and again, with the ingest's client id. On the devices' listener the broker
    gives every client its username as id, so the ingest keeps its connection (and
    its persistent session) and goes on receiving the device's records."""
    a, _ = two_boxes
    config = CloudConfig(
        database_url=f"sqlite:///{sqlite_db.database}",
        mqtt=CloudMqttConfig(
            host="127.0.0.1", port=broker.cloud.port, username=SERVICE[0], password=SERVICE[1]
        ),
    )
    with running_ingest(config, worker_id="ingest-1") as ingest:
        for _ in range(3):
            intruder = _device(broker, a.mqtt_username, a.mqtt_password, client_id=ingest.client_id)
            intruder.publish(
                "sideline/v1/org-a/box-a/logs", p.encode(log_batch("org-a", "box-a", 1))
            )
            intruder.close()
        wait_until(lambda: Log.select().count() == 3, what="the device's records")
        assert ingest.connection_generation() == 1, "the ingest was disconnected"


def test_the_clouds_client_ids_cannot_be_guessed() -> None:
    one = CloudMqttConfig(username="cloud", password="first secret")
    other = CloudMqttConfig(username="cloud", password="second secret")
    stable = cloud_client_id(one, "ingest", "ingest-1")
    assert stable == cloud_client_id(one, "ingest", "ingest-1")  # a persistent session
    assert stable != cloud_client_id(other, "ingest", "ingest-1")  # keyed by the secret
    assert (
        stable.startswith("sideline-cloud-ingest-ingest-1-") and len(stable.rsplit("-", 1)[1]) == 16
    )
    ids = {cloud_client_id(one, "api") for _ in range(50)}
    assert len(ids) == 50 and all(len(i.rsplit("-", 1)[1]) == 16 for i in ids)


def test_the_acl_names_every_channel_once() -> None:
    acl = render_device_acl("sideline") + render_cloud_acl("sideline", ["svc"])
    for channel in ("status", "heartbeat", "logs", "clips", "events", "acks"):
        assert f"pattern write sideline/v1/+/%u/{channel}\n" in acl
        assert f"topic read $share/ingest/sideline/v1/+/+/{channel}\n" in acl
    for channel in ("desired", "commands", "receipts"):
        assert f"pattern read sideline/v1/+/%u/{channel}\n" in acl
        assert f"topic write sideline/v1/+/+/{channel}\n" in acl
    assert "readwrite" not in acl and "#" not in acl.replace("# ", "")


def _tls_login(port: int, username: str, password: str, ca: Path | None) -> bool:
    """Whether a box gets a successful CONNACK on ``port`` (TLS when ``ca`` is given)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    if ca is not None:
        client.tls_set(ca_certs=str(ca))
    answered = threading.Event()
    accepted: list[bool] = []

    def on_connect(*args: object) -> None:
        accepted.append(not args[3].is_failure)  # type: ignore[attr-defined]
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except (OSError, ssl.SSLError):
        return False
    client.loop_start()
    try:
        return answered.wait(5) and accepted == [True]
    finally:
        client.disconnect()
        client.loop_stop()


# paho leaves the socket of a refused plaintext or failed handshake to the garbage
# collector (as in tests/agent/sync/test_tls.py).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_devices_listener_speaks_tls_with_the_given_certificate(
    tmp_path: Path, two_boxes: tuple[DeviceCredentials, DeviceCredentials]
) -> None:
    certificates = tmp_path / "certs"
    certificates.mkdir()
    made = make_certificates(certificates)
    devices_port = free_port()
    files = write_broker_files(
        tmp_path / "auth",
        prefix="sideline",
        services=dict([SERVICE]),
        devices_listener=Listener(devices_port, "127.0.0.1", made["server"], made["key"]),
        cloud_listener=Listener(free_port(), "127.0.0.1"),
    )
    text = files.listeners_file.read_text()
    assert f"certfile {made['server']}" in text and f"keyfile {made['key']}" in text
    running = GeneratedBroker(tmp_path, files)
    try:
        a, _ = two_boxes
        assert _tls_login(devices_port, a.mqtt_username, a.mqtt_password, made["ca"])
        assert not _tls_login(devices_port, a.mqtt_username, a.mqtt_password, None)
        assert not _tls_login(devices_port, a.mqtt_username, "wrong", made["ca"])
    finally:
        running.process.stop()


def test_tls_needs_both_files() -> None:
    with pytest.raises(ValueError, match="both"):
        Listener(8883, certfile=Path("cert.pem"))
