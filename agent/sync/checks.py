"""Connectivity checks for ``sideline agent check``: can this box reach what it syncs to?

Each check returns a :class:`CheckResult` whose text says what was tried and,
on failure, what to fix. None of them disturbs a running agent: the broker is
logged into with a separate client id and a clean session, and the bucket
probe writes and deletes one small object under the device's own prefix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.checks import CheckResult
from agent.sync.config import MqttConfig, S3Config
from agent.sync.objectstore import ObjectStoreError, S3ObjectStore
from agent.sync.paho_client import apply_credentials

__all__ = ["CheckResult", "check_broker", "check_bucket", "check_data_dir", "check_port"]


def check_data_dir(data_dir: Path) -> CheckResult:
    """Writable (a temporary file is made and removed); a folder not made yet is not made
    here: its nearest existing parent must be writable, so that the agent can make it."""
    name = f"data dir {data_dir}"
    if not data_dir.exists():
        parent = next((p for p in data_dir.parents if p.exists()), Path("/"))
        if not os.access(parent, os.W_OK | os.X_OK):
            return CheckResult(
                name,
                False,
                f"does not exist, and {parent} is not writable to make it; create it for the "
                "agent's user or set device.data_dir",
            )
        free = shutil.disk_usage(parent).free
        return CheckResult(
            name,
            True,
            f"not made yet (the agent makes it in {parent}), {free / 1024**3:.1f} GiB free",
        )
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".sideline-check-"):
            pass
    except OSError as exc:
        return CheckResult(name, False, f"not writable: {exc}; check device.data_dir and its owner")
    free = shutil.disk_usage(data_dir).free
    return CheckResult(name, True, f"writable, {free / 1024**3:.1f} GiB free")


def check_port(what: str, host: str, port: int, setting: str) -> CheckResult:
    """Can the agent listen on ``host:port``? Busy: which port, and the setting to change."""
    name = f"{what} {host}:{port}"
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind((host, port))
    except OSError as exc:
        return CheckResult(
            name,
            False,
            f"cannot listen ({exc.strerror or exc}): port {port} is taken (the running agent "
            f"holds it while it runs); free it or set {setting} to a free port",
        )
    return CheckResult(name, True, "free")


def check_broker(config: MqttConfig, device_id: str, timeout_s: float = 10.0) -> CheckResult:
    name = f"mqtt broker {config.host}:{config.port}"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{config.client_id or device_id}-check",
        protocol=mqtt.MQTTv5,
    )
    apply_credentials(client, config)
    answered = threading.Event()
    verdict: list[str] = []

    def on_connect(
        client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        verdict.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(config.host, config.port, keepalive=10, clean_start=True)
    except OSError as exc:
        return CheckResult(
            name, False, f"cannot connect: {exc}; check mqtt.host, mqtt.port and the network"
        )
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            return CheckResult(
                name, False, f"no answer to CONNECT within {timeout_s:.0f} s (TLS mismatch?)"
            )
    finally:
        client.disconnect()
        client.loop_stop()
    if verdict[0] != "Success":
        hint = (
            "; check mqtt.username and mqtt.password"
            if "password" in verdict[0] or "authorized" in verdict[0]
            else ""
        )
        return CheckResult(name, False, f"refused: {verdict[0]}{hint}")
    who = f" as {config.username}" if config.username else " anonymously"
    return CheckResult(name, True, f"logged in{who} (MQTT v5{', TLS' if config.tls else ''})")


def check_bucket(config: S3Config, org: str, device_id: str) -> CheckResult:
    name = f"s3 bucket {config.bucket} at {config.endpoint_url or 'AWS'}"
    key = f"{org}/{device_id}/.sideline-check"
    body = b"sideline agent check\n"
    digest = hashlib.sha256(body).hexdigest()
    store = S3ObjectStore(config)
    with tempfile.NamedTemporaryFile() as probe:
        probe.write(body)
        probe.flush()
        try:
            store.put_file(key, Path(probe.name), sha256=digest, content_type="text/plain")
            found = store.head(key)
            store.delete(key)
        except ObjectStoreError as exc:
            return CheckResult(
                name,
                False,
                f"{exc} (a missing bucket also shows as AccessDenied to a device key)",
            )
    if found is None or found.sha256 != digest:
        return CheckResult(name, False, f"wrote {key} but could not read it back")
    return CheckResult(name, True, f"can write, read and delete under {org}/{device_id}/")
