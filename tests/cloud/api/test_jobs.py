"""The scheduling jobs on SQLite and PostgreSQL: auto-start sessions go live at their
time and end after their duration, telling their devices (retained desired state);
a window that passed while nothing ran is not started afterwards; a device still
busy with another session refuses the start and the session stays scheduled."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.config import SchedulingConfig
from cloud.api.jobs import SchedulingJobs
from cloud.api.runtime import ApiRuntime
from cloud.models import Role, Session, SessionStatus, SessionTransition, utc_now
from tests.cloud.api.world import RecordingPublisher, World, auth, build_world
from tests.cloud.factories import make_device


def _auto(
    client: TestClient, world: World, device_id: str, minutes_ahead: int = 60
) -> dict[str, object]:
    at = utc_now().replace(microsecond=0) + timedelta(minutes=minutes_ahead)
    response = client.post(
        f"/api/v1/orgs/{world.slug}/sessions",
        headers=auth(world.tokens[Role.COACH]),
        json={
            "title": "Auto",
            "scheduled_at": at.isoformat(),
            "duration_minutes": 45,
            "auto_start": True,
            "devices": [{"device_id": device_id}],
        },
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def _desired(publisher: RecordingPublisher, device_id: str) -> list[dict[str, Any]]:
    return [
        json.loads(payload)
        for topic, payload, retain in publisher.published
        if topic.endswith(f"/{device_id}/desired") and retain
    ]


def test_auto_start_and_end_by_the_clock(
    db: Database, client: TestClient, runtime: ApiRuntime, publisher: RecordingPublisher
) -> None:
    world = build_world(db, "alpha")
    box = make_device(world.org, "alpha-north")
    session = _auto(client, world, box.id)
    at = Session.get_by_id(session["id"]).scheduled_at
    jobs = SchedulingJobs(db, settings=SchedulingConfig(), control=runtime.control)
    assert jobs.run_once(now=at - timedelta(seconds=1)).started == 0
    assert jobs.run_once(now=at + timedelta(seconds=2)).started == 1
    live = Session.get_by_id(session["id"])
    assert live.status == SessionStatus.LIVE
    (state,) = _desired(publisher, box.id)
    assert state["session"]["session_id"] == session["id"]
    assert jobs.run_once(now=at + timedelta(minutes=10)).anything is False  # running
    assert jobs.run_once(now=at + timedelta(minutes=45)).ended == 1
    assert Session.get_by_id(session["id"]).status == SessionStatus.ENDED
    assert _desired(publisher, box.id)[-1].get("session") is None
    transitions = SessionTransition.select().where(SessionTransition.session == session["id"])
    assert {(str(t.to_status), t.by_user_id, t.reason) for t in transitions} >= {
        ("live", None, "by the schedule"),
        ("ended", None, "by the schedule"),
    }


def test_a_missed_window_is_not_started_and_a_busy_device_refuses(
    db: Database, client: TestClient, runtime: ApiRuntime
) -> None:
    world = build_world(db, "alpha")
    jobs = SchedulingJobs(db, settings=SchedulingConfig(), control=runtime.control)
    missed = _auto(client, world, make_device(world.org, "alpha-south").id, minutes_ahead=600)
    at = Session.get_by_id(missed["id"]).scheduled_at
    assert jobs.run_once(now=at + timedelta(hours=2)).started == 0
    assert Session.get_by_id(missed["id"]).status == SessionStatus.SCHEDULED
    # The world's live practice records on alpha-field: another session there must wait.
    busy = _auto(client, world, world.device_id)
    at = Session.get_by_id(busy["id"]).scheduled_at
    assert jobs.run_once(now=at + timedelta(seconds=1)).started == 0
    assert Session.get_by_id(busy["id"]).status == SessionStatus.SCHEDULED
    client.post(
        f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/end",
        headers=auth(world.tokens[Role.COACH]),
    )
    assert jobs.run_once(now=at + timedelta(seconds=30)).started == 1


def test_auto_start_needs_a_time_and_a_duration(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    response = client.post(
        f"/api/v1/orgs/{world.slug}/sessions",
        headers=auth(world.tokens[Role.COACH]),
        json={"title": "Nope", "auto_start": True},
    )
    assert response.status_code == 422
