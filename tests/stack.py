"""The whole product on one machine, for end-to-end tests and benchmarks of what a coach does.

:class:`Stack` runs the cloud (``sideline cloud ingest`` and ``sideline cloud api`` as
processes, on the given database) and one box (``sideline agent run``: test-pattern
cameras, the LAN endpoint for its status), against a Mosquitto and a SeaweedFS the
caller started (the test fixtures' or a benchmark's own), with an organisation, a
coach's API token and the box registered the way the product does it. On SQLite it
is the embedded default (``sideline demo``) with as many cameras as asked for.

    with Stack(work_dir, broker, seaweed, "sqlite:///…/cloud.db", cameras=2) as stack:
        stack.api("POST", "/sessions", {...})
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from cloud.api.services.accounts import find_or_create_user, found_organisation
from cloud.db import open_database
from cloud.migrations import migrate
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.process import ManagedProcess, free_port
from sideline.services.seaweed import SeaweedS3
from tests.agent.sync.cloud_ingest import register_box
from tests.fixtures.services import MQTT_ADMIN, S3_BUCKET
from tests.procs import child_env

__all__ = ["Stack"]


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def _tables(tables: dict[str, dict[str, object]], top: dict[str, object] | None = None) -> str:
    lines = [f"{key} = {_toml(value)}" for key, value in (top or {}).items()]
    for name, values in tables.items():
        lines.append(f"\n[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


class Stack:
    def __init__(
        self,
        work_dir: Path,
        broker: MosquittoBroker,
        seaweed: SeaweedS3,
        database_url: str,
        *,
        org: str = "club",
        cameras: int = 1,
        width: int = 640,
        height: int = 360,
        fps: float = 15.0,
        bitrate_kbps: int = 800,
        agent: dict[str, dict[str, object]] | None = None,
        test_clips: bool = True,
    ) -> None:
        """``test_clips``: short pre-roll and ring (tests); else the box's defaults.
        ``agent``: more agent config, by table."""
        self.work_dir = work_dir
        self.broker = broker
        self.seaweed = seaweed
        self.database_url = database_url
        self.org = org
        self.camera_ids = ["main"] + [f"cam{n}" for n in range(2, cameras + 1)]
        self.camera = {"width": width, "height": height, "fps": fps, "bitrate_kbps": bitrate_kbps}
        self.agent_overrides = agent or {}
        self.test_clips = test_clips
        self.api_port, self.lan_port = free_port(), free_port()
        self.lan_token = "lan-token-for-the-stack-tests"
        self.processes: list[ManagedProcess] = []
        self.token = ""
        self.device_id = ""

    # -- lifetime ---------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        database = open_database(self.database_url)
        try:
            migrate(database)
            coach = find_or_create_user(database, email=f"coach@{self.org}.example", name="Coach")
            _, _, _, minted = found_organisation(database, owner=coach, slug=self.org, name="Club")
            self.token = minted.secret
        finally:
            database.close()
        box = register_box(self.database_url, seaweed=self.seaweed, org=self.org)
        self.device_id = box.id
        self.broker.reload(users={**self.broker.users, box.id: box.password})
        cloud = self.work_dir / "cloud.toml"
        cloud.write_text(self._cloud_config())
        self._spawn("ingest", "cloud", "ingest", "--config", str(cloud))
        api = self._spawn("api", "cloud", "api", "--config", str(cloud))
        api.wait_until(self._api_answers, timeout_s=60, what="the API answering")
        agent_config = self.work_dir / "agent.toml"
        agent_config.write_text(self._agent_config(box.password, box.s3_key, box.s3_secret))
        agent = self._spawn("agent", "agent", "run", "--config", str(agent_config))
        agent.wait_until(self._streaming, timeout_s=90, what="every camera streaming")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes = []

    def _spawn(self, name: str, *args: str) -> ManagedProcess:
        process = ManagedProcess(
            name,
            [sys.executable, "-m", "sideline", *args],
            log_path=self.work_dir / f"{name}.log",
            env=child_env(),
            term_timeout_s=30.0,
        )
        process.start()
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.work_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- configs ----------------------------------------------------------------------

    def _cloud_config(self) -> str:
        return _tables(
            {
                "mqtt": {
                    "host": self.broker.host,
                    "port": self.broker.port,
                    "username": MQTT_ADMIN[0],
                    "password": MQTT_ADMIN[1],
                    "shared_group": f"stack-{secrets.token_hex(3)}",  # no other ingest shares it
                },
                "s3": {
                    "endpoint_url": self.seaweed.endpoint_url,
                    "bucket": S3_BUCKET,
                    "access_key_id": self.seaweed.admin.access_key,
                    "secret_access_key": self.seaweed.admin.secret_key,
                },
                "api": {"host": "127.0.0.1", "port": self.api_port},
                "ingest": {"stats_interval_s": 3600},
                "ingest.verify": {"first_delay_s": 0.2, "max_delay_s": 1.0},
            },
            {"database_url": self.database_url, "log_level": "INFO"},
        )

    def _agent_config(self, password: str, s3_key: str | None, s3_secret: str | None) -> str:
        tables: dict[str, dict[str, object]] = {
            "device": {"org": self.org, "id": self.device_id, "data_dir": self.work_dir / "box"},
            "recording": {"segment_seconds": 2},
            "mqtt": {
                "host": self.broker.host,
                "port": self.broker.port,
                "username": self.device_id,
                "password": password,
            },
            "s3": {
                "endpoint_url": self.seaweed.endpoint_url,
                "bucket": S3_BUCKET,
                "access_key_id": s3_key or "",
                "secret_access_key": s3_secret or "",
            },
            "triggers.lan": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": self.lan_port,
                "token": self.lan_token,
            },
            "health": {"heartbeat_interval_s": 2},
        }
        if self.test_clips:
            tables["clips"] = {
                "pre_seconds": 2,
                "post_seconds": 1,
                "max_pre_seconds": 5,
                "max_post_seconds": 10,
                "ring_seconds": 8,
            }
        for name, values in self.agent_overrides.items():
            tables.setdefault(name, {}).update(values)
        text = _tables(tables)
        for camera_id in self.camera_ids:
            keys = {"id": camera_id, "kind": "test", "keyframe_interval_s": 1.0, **self.camera}
            text += "\n[[cameras]]\n" + "\n".join(f"{k} = {_toml(v)}" for k, v in keys.items())
            text += "\n"
        return text

    # -- asking ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _api_answers(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/api/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def box_status(self) -> dict[str, Any] | None:
        try:
            response = httpx.get(
                f"http://127.0.0.1:{self.lan_port}/v1/status",
                headers={"Authorization": f"Bearer {self.lan_token}"},
                timeout=2,
            )
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def _streaming(self) -> bool:
        status = self.box_status()
        cameras = (status or {}).get("cameras") or []
        return len(cameras) == len(self.camera_ids) and all(
            camera.get("state") == "streaming" for camera in cameras
        )

    def api(self, method: str, path: str, body: Any = None, *, expect: int | None = None) -> Any:
        """``path`` under the organisation (``/sessions``) or absolute (``/api/v1/…``)."""
        url = path if path.startswith("/api/") else f"/api/v1/orgs/{self.org}{path}"
        response = httpx.request(
            method,
            f"{self.api_url}{url}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        if expect is not None:
            assert response.status_code == expect, (
                method,
                url,
                response.status_code,
                response.text,
            )
        return response.json() if response.content else None

    def tagging_session(self, clip: dict[str, Any], *, title: str = "Match") -> dict[str, Any]:
        """A live session on the box whose form tags (``clip``: its clip settings)."""
        form = self.api(
            "POST",
            "/forms",
            {
                "name": f"{title} code window",
                "fields": [
                    {
                        "key": "action",
                        "label": "Action",
                        "type": "select",
                        "options": [{"value": "goal"}, {"value": "turnover"}, {"value": "shot"}],
                    }
                ],
                "clip": clip,
            },
            expect=201,
        )
        session = self.api(
            "POST",
            "/sessions",
            {
                "title": title,
                "form_template_id": form["id"],
                "devices": [{"device_id": self.device_id}],
            },
            expect=201,
        )
        self.api("POST", f"/sessions/{session['id']}/start", {}, expect=200)
        return dict(session)

    def recording_everywhere(self) -> bool:
        """The box records every camera (its heartbeat's health says so)."""
        status = self.box_status() or {}
        cameras = status.get("cameras") or []
        return bool(cameras) and all(camera.get("recording") for camera in cameras)
