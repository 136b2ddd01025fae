"""The daemon: sd_notify over a real datagram socket, the watchdog, SIGTERM, kill -9, reload."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from agent.components import AgentParts
from agent.daemon import Daemon, ExitReason
from agent.systemd_notify import SystemdNotifier
from agent.wiring import PartsContext
from protocol import Channel, Command, DeviceState, ReloadConfig, Status, Topic, decode_as, encode
from sideline.services.mosquitto import MosquittoBroker
from tests.agent.sync.conftest import Device, agent_config, config_json
from tests.agent.sync.test_control import ack_for, command
from tests.mqtt_helpers import TestClient
from tests.procs import child_env, sideline_argv
from tests.waiting import wait_until


class NotifySocket:
    """What systemd listens on: a datagram socket; collects every message sent to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.socket.recv(4096).decode())
            except TimeoutError:
                continue

    def fields(self, key: str) -> list[str]:
        return [
            line.split("=", 1)[1]
            for message in list(self.messages)
            for line in message.split("\n")
            if line.startswith(key + "=")
        ]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


class Capture:
    """A component at the daemon's seam whose loop can be made to hang."""

    name = "capture"

    def __init__(self) -> None:
        self.hung = threading.Event()
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self, timeout_s: float) -> None:
        self.stopped = True

    def alive(self) -> bool:
        return not self.hung.is_set()


def test_ready_then_watchdog_only_while_every_loop_ticks(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, notify: NotifySocket
) -> None:
    capture = Capture()

    def parts(context: PartsContext) -> AgentParts:
        return AgentParts(components=[capture])

    notifier = SystemdNotifier(str(notify.path), watchdog_usec=400_000)  # beat every 0.2 s
    daemon = Daemon(
        agent_config(tmp_path, device, mosquitto), parts_factory=parts, notifier=notifier
    )
    daemon.start()
    try:
        assert capture.started
        wait_until(lambda: notify.fields("READY") == ["1"], what="READY=1")
        wait_until(lambda: len(notify.fields("WATCHDOG")) >= 3, what="watchdog beats")
        assert notify.fields("MAINPID") == [str(os.getpid())]
        capture.hung.set()
        time.sleep(0.3)  # let a beat in flight land
        during = len(notify.fields("WATCHDOG"))
        statuses = len(notify.fields("STATUS"))
        time.sleep(1.0)  # five beat intervals with a hung capture loop
        assert len(notify.fields("WATCHDOG")) == during
        assert len(notify.fields("STATUS")) > statuses  # still alive enough to say so
        capture.hung.clear()
        wait_until(lambda: len(notify.fields("WATCHDOG")) > during, what="beats again")
        assert "backlog 0 logs" in notify.fields("STATUS")[-1]
    finally:
        daemon.shutdown()
    assert capture.stopped
    assert notify.fields("STOPPING") == ["1"]


def test_the_abstract_namespace_is_spoken_too(tmp_path: Path) -> None:
    name = f"sideline-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    listener.settimeout(5)
    try:
        notifier = SystemdNotifier("@" + name)
        notifier.status("hello")
        notifier.close()
        assert listener.recv(100) == b"STATUS=hello"
    finally:
        listener.close()


def test_a_loop_that_dies_stops_the_daemon_with_failure(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device
) -> None:
    daemon = Daemon(agent_config(tmp_path, device, mosquitto))
    daemon.start()
    try:

        def broken() -> None:
            raise ZeroDivisionError("a loop that fails")

        daemon._start_loop("broken", broken)
        assert daemon.wait(10)
    finally:
        daemon.shutdown()
    assert daemon.exit_reason is ExitReason.FAILED


def test_corruption_found_at_run_time_stops_the_daemon_for_a_checked_restart(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device
) -> None:
    # What peewee raises when SQLite finds a damaged page under a running agent.
    damaged = sqlite3.DatabaseError("database disk image is malformed")
    damaged.sqlite_errorcode = sqlite3.SQLITE_CORRUPT
    daemon = Daemon(agent_config(tmp_path, device, mosquitto))
    daemon.start()
    try:
        daemon.store.report_error(peewee.DatabaseError(damaged))
        assert daemon.wait(10)
    finally:
        daemon.shutdown()
    # Exit 1: systemd restarts the agent, and the start-up check quarantines the file.
    assert daemon.exit_reason is ExitReason.FAILED


def statuses(watcher: TestClient, of: Device) -> list[DeviceState]:
    suffix = f"/{of.id}/status"
    return [
        decode_as(Status, m.payload).state for m in watcher.messages if m.topic.endswith(suffix)
    ]


def run_agent(tmp_path: Path, config_text: str, notify: NotifySocket) -> subprocess.Popen[str]:
    path = tmp_path / "agent.json"
    path.write_text(config_text)
    toml = tmp_path / "agent.toml"
    toml.write_text(json_to_toml(config_text))
    return subprocess.Popen(
        sideline_argv("agent", "run", "--config", str(toml)),
        env=child_env(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="2000000"),
        stderr=subprocess.PIPE,
        text=True,
    )


def json_to_toml(text: str) -> str:
    """A small JSON -> TOML writer for the nested config (tables of scalars, one list)."""
    import json

    data = json.loads(text)
    lines: list[str] = []

    def scalar(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        return json.dumps(str(value))

    def table(name: str, values: dict[str, object]) -> None:
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        lines.append(f"[{name}]")
        lines.extend(
            f"{k} = {scalar(v)}" for k, v in values.items() if not isinstance(v, dict | list)
        )
        for key, value in nested.items():
            table(f"{name}.{key}", value)

    for name, values in data.items():
        if name == "cameras":
            for camera in values:
                lines.append("[[cameras]]")
                lines.extend(
                    f"{k} = {scalar(v)}"
                    for k, v in camera.items()
                    if not isinstance(v, dict | list)
                )
        elif isinstance(values, dict):
            table(name, values)
    return "\n".join(lines) + "\n"


def test_sigterm_drains_and_says_offline_and_kill_9_leaves_the_last_will(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    device: Device,
    admin: TestClient,
    notify: NotifySocket,
) -> None:
    admin.subscribe(str(Topic("sideline", device.org, device.id, Channel.STATUS)))
    text = config_json(agent_config(tmp_path, device, mosquitto))
    agent = run_agent(tmp_path, text, notify)
    try:
        wait_until(lambda: notify.fields("READY") == ["1"], what="READY=1")
        wait_until(lambda: statuses(admin, device)[-1:] == [DeviceState.ONLINE], what="online")
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    finally:
        agent.kill()
    assert agent.returncode == 0, stderr[-2000:]
    assert "agent stopped (stopped)" in stderr  # logged to stderr: not under systemd here
    assert notify.fields("STOPPING") == ["1"]
    wait_until(lambda: statuses(admin, device)[-1:] == [DeviceState.OFFLINE], what="offline")

    admin.messages.clear()
    agent = run_agent(tmp_path, text, notify)
    try:
        wait_until(lambda: statuses(admin, device)[-1:] == [DeviceState.ONLINE], what="online")
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        # No goodbye this time: the broker publishes the retained last will.
        wait_until(lambda: statuses(admin, device)[-1:] == [DeviceState.OFFLINE], what="the will")
    finally:
        agent.kill()
        agent.communicate()


def test_reload_config_restarts_in_place_and_an_invalid_file_is_refused(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    device: Device,
    admin: TestClient,
    notify: NotifySocket,
) -> None:
    admin.subscribe(str(Topic("sideline", device.org, device.id, Channel.ACKS)))
    config = agent_config(tmp_path, device, mosquitto)
    agent = run_agent(tmp_path, config_json(config), notify)
    toml = tmp_path / "agent.toml"
    topic = str(Topic("sideline", device.org, device.id, Channel.COMMANDS))
    try:
        wait_until(lambda: notify.fields("READY") == ["1"], what="READY=1")
        wait_until(lambda: notify.fields("STATUS")[-1].startswith("online"), what="subscribed")
        good: Command = command(device, body=ReloadConfig())
        admin.publish(topic, encode(good))
        assert ack_for(admin, good.command_id).status.value == "done"
        wait_until(lambda: notify.fields("READY") == ["1", "1"], what="READY=1 after the restart")
        assert notify.fields("RELOADING") == ["1"]
        assert notify.fields("MAINPID") == [str(agent.pid)] * 2  # exec'd in place, same PID
        notify.messages.clear()
        wait_until(
            lambda: any(status.startswith("online") for status in notify.fields("STATUS")),
            what="subscribed again",
        )
        toml.write_text(toml.read_text().replace("[mqtt]", "[mqtt]\nhots = 'typo'"))
        bad: Command = command(device, body=ReloadConfig())
        admin.publish(topic, encode(bad))
        refused = ack_for(admin, bad.command_id)
        assert refused.status.value == "failed" and "unknown key" in str(refused.reason)
        assert agent.poll() is None  # still running on the old configuration
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=30)
