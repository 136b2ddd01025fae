"""The schedule drives the boxes, end to end with the real parts: an auto-start session
goes live at its time and ends after its duration without anyone pressing a button;
the box, offline at the start, gets the desired state when it connects and tags its
clips with the session; after the end its clips carry no session.

The stack is the demo's (Mosquitto, SeaweedFS, ``sideline cloud ingest`` and
``sideline cloud api`` on SQLite, ``sideline agent run`` on a test pattern). The
scheduling jobs run here, the API process's code with the clock passed in, so the
test need not wait for a real half hour."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from cloud.api.config import SchedulingConfig
from cloud.api.jobs import SchedulingJobs
from cloud.config import load_cloud_config
from cloud.db import open_database
from cloud.devices.control import DeviceControl
from cloud.models import utc_now
from cloud.mqtt import CloudMqttClient, cloud_client_id
from sideline.demo import DEVICE, ORG, Demo, DemoOptions, request_json
from sideline.services.process import free_port

pytestmark = pytest.mark.timeout(300)


def _wait(condition: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _box_clip(root: Path, clip_id: str) -> tuple[UUID | None] | None:
    """The clip in the box's own store, as ``(session it was tagged with,)``; None if
    the box has not stored it yet."""
    with sqlite3.connect(
        f"file:{root / 'agent' / 'buffer.db'}?mode=ro", uri=True, timeout=10
    ) as db:
        row = db.execute(
            "SELECT session_id FROM clips WHERE id = ?", (UUID(clip_id).bytes,)
        ).fetchone()
    if row is None:
        return None
    return (UUID(row[0]) if row[0] else None,)


def test_an_auto_start_session_runs_by_the_clock_and_the_box_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API process's own jobs are off: this test runs them with its own clock.
    monkeypatch.setenv("SIDELINE_CLOUD_API__SCHEDULING__JOBS", "false")
    demo = Demo(
        DemoOptions(
            data_dir=tmp_path / "demo",
            api_port=free_port(),
            lan_port=free_port(),
            pre_seconds=1.0,
            post_seconds=1.0,
        )
    )
    client: CloudMqttClient | None = None
    try:
        demo.start(live_session=False, agent=False)
        assert demo.state is not None
        api = f"{demo.api_url}/api/v1/orgs/{ORG}"
        coach = {"Authorization": f"Bearer {demo.state.api_token}"}
        at = (utc_now() + timedelta(hours=2)).replace(microsecond=0)
        session = request_json(
            "POST",
            f"{api}/sessions",
            headers=coach,
            body={
                "title": "Saturday training",
                "scheduled_at": at.isoformat(),
                "duration_minutes": 30,
                "auto_start": True,
                "devices": [{"device_id": DEVICE}],
            },
        )
        assert session["status"] == "scheduled" and session["auto_start"] is True

        config = load_cloud_config(demo.root / "cloud.toml")
        database = open_database(config.database_url)
        client = CloudMqttClient(config.mqtt, client_id=cloud_client_id(config.mqtt, "test"))
        client.connect()
        jobs = SchedulingJobs(
            database, settings=SchedulingConfig(), control=DeviceControl(client, prefix="sideline")
        )
        assert jobs.run_once(now=at - timedelta(minutes=1)).started == 0  # not yet
        started = jobs.run_once(now=at + timedelta(seconds=5))
        assert started.started == 1
        live = request_json("GET", f"{api}/sessions/{session['id']}", headers=coach)
        assert live["status"] == "live"

        # The box was offline at the start: it connects now and gets the retained state.
        demo.start_agent()
        time.sleep(1.5)  # a second of pre-roll
        lan = {"Authorization": f"Bearer {demo.state.lan_token}"}
        pressed = request_json("POST", f"{demo.lan_url}/v1/clips", headers=lan, body={})
        (clip_id,) = pressed["clip_ids"]
        (tagged,) = _wait(
            lambda: _box_clip(demo.root, clip_id), timeout_s=60, what="the clip in the box's store"
        )
        assert tagged == UUID(session["id"])  # the box itself named the session

        def ready() -> dict[str, Any] | None:
            clips = request_json("GET", f"{api}/sessions/{session['id']}/clips", headers=coach)
            return next((c for c in clips["data"] if c["id"] == clip_id), None)

        clip = _wait(ready, timeout_s=90, what="the clip ready in the cloud")
        assert clip["session_id"] == session["id"]

        # After its duration the job ends it; the box's desired state has no session.
        assert jobs.run_once(now=at + timedelta(minutes=31)).ended == 1
        ended = request_json("GET", f"{api}/sessions/{session['id']}", headers=coach)
        assert ended["status"] == "ended"

        def untagged_clip() -> str | None:
            again = request_json("POST", f"{demo.lan_url}/v1/clips", headers=lan, body={})
            (later,) = again["clip_ids"]
            (session_of,) = _wait(
                lambda: _box_clip(demo.root, later), timeout_s=60, what="a later clip in the store"
            )
            return later if session_of is None else None

        assert _wait(untagged_clip, timeout_s=60, what="a clip without the session")
        database.close()
    finally:
        if client is not None:
            client.close()
        demo.stop()
