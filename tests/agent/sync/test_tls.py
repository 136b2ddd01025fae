"""TLS to the broker from config: a private CA is trusted when named, refused when not."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from agent.sync.config import MqttConfig
from agent.sync.link import MqttLink
from protocol import DeviceState, Status, encode
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.process import free_port
from tests.agent.sync.conftest import Device, register_device
from tests.fixtures.services import BrokerFactory
from tests.waiting import wait_until


def make_certificates(directory: Path) -> dict[str, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make test certificates (apt install openssl)"

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=sideline-test-ca",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return {
        name: directory / f"{name}.{ext}"
        for name, ext in (("ca", "pem"), ("server", "pem"), ("key", "key"))
    } | {"key": directory / "server.key"}


@pytest.fixture
def tls_broker(broker_factory: BrokerFactory, tmp_path: Path) -> tuple[MosquittoBroker, int, Path]:
    certificates = make_certificates(tmp_path)
    port = free_port()
    broker = broker_factory(
        extra_config=(
            f"listener {port} 127.0.0.1\ncafile {certificates['ca']}\n"
            f"certfile {certificates['server']}\nkeyfile {certificates['key']}\n"
        )
    )
    return broker, port, certificates["ca"]


def link_for(device: Device, port: int, ca_file: Path | None) -> MqttLink:
    config = MqttConfig(
        port=port,
        username=device.id,
        password=device.password,
        tls=True,
        ca_file=ca_file,
        reconnect_min_s=0.2,
        reconnect_max_s=1,
    )
    status = encode(Status(org=device.org, device_id=device.id, state=DeviceState.OFFLINE))
    return MqttLink(
        config,
        org=device.org,
        device_id=device.id,
        online_status=lambda: status,
        offline_status=status,
        max_in_flight=4,
    )


# paho leaves the socket of a failed TLS handshake to the garbage collector
# (Client._ssl_wrap_socket does not close it); the warning is paho's, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_link_speaks_tls_with_the_configured_ca_and_refuses_an_unknown_one(
    tls_broker: tuple[MosquittoBroker, int, Path], device: Device
) -> None:
    broker, port, ca = tls_broker
    register_device(broker, device.id, device.password)
    trusted, untrusted = link_for(device, port, ca), link_for(device, port, None)
    threads = [threading.Thread(target=link.run, daemon=True) for link in (trusted, untrusted)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: trusted.connected, what="a TLS connection")
        wait_until(lambda: untrusted.stats.last_error, what="the TLS refusal")
        assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.stats.last_error)
        assert not untrusted.connected and untrusted.alive(5)
    finally:
        for link, thread in zip((trusted, untrusted), threads, strict=True):
            link.stop()
            thread.join(10)
            link.close()
