"""The embedded default: the whole of Sideline on one machine, with real parts.

``sideline demo`` starts, as child processes with their own logs:

* Mosquitto, laid out as in production: the box's listener (client id = username)
  and the cloud's own listener, each with its password file and ACLs;
* SeaweedFS serving S3, the bucket created and the box's key confined to its prefix;
* the cloud on a SQLite file: ``sideline cloud ingest`` and ``sideline cloud api``;
* one agent, ``sideline agent run``, on a generated test-pattern camera, with the
  LAN trigger a phone would use.

It creates (once) an organisation, a coach with an API token, a team, the box
and a live session the box records, then leaves everything running. Secrets
and ports are kept in ``{data_dir}/demo.json`` (mode 600) so that a second run
finds the same broker, store, database and token.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.credentials import S3Identity
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.process import ManagedProcess, ServiceError, free_port
from sideline.services.seaweed import SeaweedS3

__all__ = ["Demo", "DemoOptions", "DemoState", "request_json"]

log = logging.getLogger(__name__)

ORG = "demo"
DEVICE = "demo-field"
CLOUD_USER = "sideline-cloud"
BUCKET = "sideline-clips"
PREFIX = "sideline"


@dataclass
class DemoState:
    """What must survive between runs: ports, secrets, the ids made at the first run."""

    mqtt_port: int
    s3_port: int
    cloud_password: str
    s3_admin_key: str
    s3_admin_secret: str
    lan_token: str
    api_token: str | None = None
    device_mqtt_password: str | None = None
    device_s3_key: str | None = None
    device_s3_secret: str | None = None
    session_id: str | None = None
    cloud_mqtt_port: int | None = None  # the cloud's own listener (absent in older demo.json)

    @classmethod
    def load_or_create(cls, path: Path) -> DemoState:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        return cls(
            mqtt_port=free_port(),
            s3_port=free_port(),
            cloud_password=secrets.token_urlsafe(18),
            s3_admin_key="demo-admin",
            s3_admin_secret=secrets.token_urlsafe(18),
            lan_token=secrets.token_urlsafe(18),
        )

    def save(self, path: Path) -> None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(asdict(self), handle, indent=2)


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    api_port: int = 8000
    lan_port: int = 8470
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    pre_seconds: float = 10.0
    post_seconds: float = 5.0


class Demo:
    """Start and stop the whole embedded stack; :meth:`start` returns once all answer."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.root = options.data_dir.resolve()
        self.logs = self.root / "logs"
        self.state_path = self.root / "demo.json"
        self.state = DemoState.load_or_create(self.state_path) if self.root.exists() else None
        self.broker: MosquittoBroker | None = None
        self.store: SeaweedS3 | None = None
        self.processes: list[ManagedProcess] = []

    # -- lifetime ----------------------------------------------------------------------

    def start(self, *, live_session: bool = True, agent: bool = True) -> None:
        """Everything; without ``live_session`` no session is started for the box, and
        without ``agent`` the box is left off (:meth:`start_agent` starts it later)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.state = DemoState.load_or_create(self.state_path)
        self.state.save(self.state_path)
        self._check_ports()
        self._bootstrap_accounts()
        self._start_object_store()
        self._start_broker()
        cloud_toml = self._write_cloud_config()
        self._spawn("ingest", "cloud", "ingest", "--config", str(cloud_toml))
        api = self._spawn("api", "cloud", "api", "--config", str(cloud_toml))
        api.wait_until(
            lambda: self._answers(self.api_url + "/api/v1/health"),
            timeout_s=60,
            what="the API answering",
        )
        if live_session:
            self._ensure_live_session()
        if agent:
            self.start_agent()

    def start_agent(self) -> None:
        """The box; returns once its camera streams (a press then makes a clip)."""
        agent = self._spawn("agent", "agent", "run", "--config", str(self._write_agent_config()))
        agent.wait_until(self._camera_streaming, timeout_s=90, what="the box's camera streaming")

    def stop(self) -> None:
        """The agent first (it drains), then the cloud, then the services under it."""
        for process in reversed(self.processes):
            process.stop()
        self.processes = []
        if self.store is not None:
            self.store.stop()
        if self.broker is not None:
            self.broker.stop()

    def dead_process(self) -> ManagedProcess | None:
        return next((p for p in self.processes if not p.is_running()), None)

    # -- addresses -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.options.api_port}"

    @property
    def lan_url(self) -> str:
        return f"http://127.0.0.1:{self.options.lan_port}"

    # -- parts -----------------------------------------------------------------------------

    def _check_ports(self) -> None:
        """A port another program holds would fail deep inside a child: say which, and how
        to move off it, before anything starts."""
        state = self._state()
        kept = f"chosen at the first run and kept in {self.state_path}; stop what holds it"
        wanted = (
            (self.options.api_port, "the cloud API", "pick another with --api-port"),
            (self.options.lan_port, "the box's LAN endpoint", "pick another with --lan-port"),
            (state.mqtt_port, "the demo's MQTT broker", kept),
            (state.s3_port, "the demo's S3 store", kept),
        )
        for port, what, fix in wanted:
            if not _port_free(port):
                raise ServiceError(f"port {port} ({what}) is taken by another program; {fix}")

    def _bootstrap_accounts(self) -> None:
        """Organisation, coach, token and box: created by the same services as the CLI's."""
        from cloud.api.services.accounts import find_or_create_user, found_organisation
        from cloud.devices.registry import create_device
        from cloud.migrations import open_current_database
        from cloud.models import Device, Organisation

        state = self._state()
        database = open_current_database(self._database_url())
        try:
            if Organisation.get_or_none(Organisation.slug == ORG) is None:
                coach = find_or_create_user(database, email="coach@demo.local", name="Demo Coach")
                _, _, _, minted = found_organisation(
                    database, owner=coach, slug=ORG, name="Demo club"
                )
                state.api_token = minted.secret
            if Device.get_or_none(Device.id == DEVICE) is None:
                credentials = create_device(ORG, "Demo field", device_id=DEVICE)
                state.device_mqtt_password = credentials.mqtt_password
                state.device_s3_key = credentials.s3_access_key_id
                state.device_s3_secret = credentials.s3_secret_access_key
        finally:
            database.close()
        state.save(self.state_path)

    def _start_object_store(self) -> None:
        state = self._state()
        admin = S3Identity("admin", state.s3_admin_key, state.s3_admin_secret)
        self.store = SeaweedS3(self.root / "seaweed", admin=admin, s3_port=state.s3_port)
        self.store.start()
        self.store.create_bucket(BUCKET)
        assert state.device_s3_key and state.device_s3_secret
        self.store.add_identity(
            S3Identity(
                f"device-{DEVICE}",
                state.device_s3_key,
                state.device_s3_secret,
                actions=[f"Write:{BUCKET}/{ORG}/{DEVICE}/*", f"Read:{BUCKET}/{ORG}/{DEVICE}/*"],
            )
        )

    def _start_broker(self) -> None:
        from cloud.devices.broker_auth import render_cloud_acl, render_device_acl

        state = self._state()
        assert state.device_mqtt_password
        if state.cloud_mqtt_port is None:
            state.cloud_mqtt_port = free_port()
            state.save(self.state_path)
        self.broker = MosquittoBroker(
            self.root / "mosquitto",
            port=state.mqtt_port,
            users={DEVICE: state.device_mqtt_password},
            acl=render_device_acl(PREFIX),
            cloud_port=state.cloud_mqtt_port,
            cloud_users={CLOUD_USER: state.cloud_password},
            cloud_acl=render_cloud_acl(PREFIX, [CLOUD_USER]),
        )
        self.broker.start()

    def _spawn(self, name: str, *args: str) -> ManagedProcess:
        process = ManagedProcess(
            name,
            [sys.executable, "-m", "sideline", *args],
            log_path=self.logs / f"{name}.log",
            term_timeout_s=30.0,
        )
        process.start()
        self.processes.append(process)
        return process

    def _ensure_live_session(self) -> None:
        state = self._state()
        headers = {"Authorization": f"Bearer {state.api_token}"}
        sessions = f"{self.api_url}/api/v1/orgs/{ORG}/sessions"
        if state.session_id is not None:
            current = request_json("GET", f"{sessions}/{state.session_id}", headers=headers)
            if current.get("status") == "live":
                return
        created = request_json(
            "POST",
            sessions,
            headers=headers,
            body={"title": "Demo practice", "type": "practice", "devices": [{"device_id": DEVICE}]},
        )
        request_json("POST", f"{sessions}/{created['id']}/start", headers=headers, body={})
        state.session_id = created["id"]
        state.save(self.state_path)

    def _write_cloud_config(self) -> Path:
        state = self._state()
        path = self.root / "cloud.toml"
        _write_private(
            path,
            f"""# Written by `sideline demo`; it holds the demo's secrets.
environment = "development"
database_url = {json.dumps(self._database_url())}

[mqtt]
host = "127.0.0.1"
port = {state.cloud_mqtt_port}
device_port = {state.mqtt_port}
username = {json.dumps(CLOUD_USER)}
password = {json.dumps(state.cloud_password)}
prefix = {json.dumps(PREFIX)}

[s3]
endpoint_url = "http://127.0.0.1:{state.s3_port}"
bucket = {json.dumps(BUCKET)}
access_key_id = {json.dumps(state.s3_admin_key)}
secret_access_key = {json.dumps(state.s3_admin_secret)}

[api]
port = {self.options.api_port}

[ingest]
worker_id = "demo-ingest"
""",
        )
        return path

    def _write_agent_config(self) -> Path:
        state, options = self._state(), self.options
        path = self.root / "agent.toml"
        _write_private(
            path,
            f"""# Written by `sideline demo`: the box, on a generated test pattern.
[device]
org = {json.dumps(ORG)}
id = {json.dumps(DEVICE)}
name = "Demo field"
data_dir = {json.dumps(str(self.root / "agent"))}

{self._capture_sections()}

[mqtt]
host = "127.0.0.1"
port = {state.mqtt_port}
username = {json.dumps(DEVICE)}
password = {json.dumps(state.device_mqtt_password)}
prefix = {json.dumps(PREFIX)}

[s3]
endpoint_url = "http://127.0.0.1:{state.s3_port}"
bucket = {json.dumps(BUCKET)}
access_key_id = {json.dumps(state.device_s3_key)}
secret_access_key = {json.dumps(state.device_s3_secret)}

[triggers.lan]
enabled = true
host = "127.0.0.1"
port = {options.lan_port}
token = {json.dumps(state.lan_token)}

[health]
heartbeat_interval_s = 10
""",
        )
        return path

    def _capture_sections(self) -> str:
        """The agent config's camera and clip sections (benchmarks put their own camera here)."""
        options = self.options
        return f"""[[cameras]]
id = "main"
kind = "test"
width = {options.width}
height = {options.height}
fps = {options.fps}

[clips]
pre_seconds = {options.pre_seconds}
post_seconds = {options.post_seconds}"""

    # -- helpers ---------------------------------------------------------------------------

    def _state(self) -> DemoState:
        if self.state is None:
            raise RuntimeError("the demo has not been started")
        return self.state

    def _database_url(self) -> str:
        return f"sqlite:///{self.root / 'cloud.db'}"

    def _camera_streaming(self) -> bool:
        """The box answers on its LAN and its camera delivers video: a press now makes a clip."""
        headers = {"Authorization": f"Bearer {self._state().lan_token}"}
        try:
            status = request_json("GET", self.lan_url + "/v1/status", headers=headers)
        except (OSError, ServiceError):
            return False
        cameras = status.get("cameras") or []
        return bool(cameras) and all(camera.get("state") == "streaming" for camera in cameras)

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1):  # loopback
                return True
        except (OSError, urllib.error.URLError):
            return False


def request_json(
    method: str, url: str, *, headers: dict[str, str], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One JSON request to the demo's API or box (loopback); ServiceError on an error status."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # loopback
    for key, value in {**headers, "Content-Type": "application/json"}.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            result: dict[str, Any] = json.loads(response.read() or b"{}")
            return result
    except urllib.error.HTTPError as exc:
        raise ServiceError(f"{method} {url} answered {exc.code}: {exc.read()[:500]!r}") from None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def wait_forever(demo: Demo, *, poll_s: float = 1.0) -> ManagedProcess | None:
    """Block until a child dies (returned) or the caller is interrupted."""
    while True:
        dead = demo.dead_process()
        if dead is not None:
            return dead
        time.sleep(poll_s)
