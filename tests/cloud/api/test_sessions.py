"""Sessions: creation and validation, editing rules, the lifecycle, listing with cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.models import Role, Session, SessionStatus, SessionTransition
from protocol.codec import decode_as
from protocol.control import DesiredState
from tests.cloud.api.world import RecordingPublisher, World, auth, build_world
from tests.cloud.factories import make_device

WHEN = "2030-05-01T17:00:00Z"


def _sessions(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}/sessions"


def _create(client: TestClient, world: World, **fields: Any) -> dict[str, Any]:
    response = client.post(
        _sessions(world), headers=auth(world.tokens[Role.COACH]), json={"title": "S", **fields}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_session_carries_both_specs_fields(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    created = _create(
        client,
        world,
        type="webinar",
        description="Intro",
        host_id=str(world.user_ids[Role.HOST]),
        team_id=str(world.team.id),
        scheduled_at="2030-05-01T19:00:00+02:00",
        duration_minutes=45,
        timezone="Europe/Paris",
        meeting_url="https://meet.example/abc",
        meeting_provider="jitsi",
        max_participants=30,
        is_free=False,
        price_minor=1500,
        currency="EUR",
        form_template_id=str(world.form.id),
        devices=[{"device_id": world.device_id, "camera_id": "cam1"}],
    )
    assert created["status"] == "scheduled"  # a date makes it scheduled
    assert created["scheduled_at"] == WHEN
    assert created["form_version"] == 1
    assert created["devices"] == [{"device_id": world.device_id, "camera_id": "cam1"}]
    assert (created["price_minor"], created["currency"], created["participant_count"]) == (
        1500,
        "EUR",
        0,
    )
    assert _create(client, world)["status"] == "draft"
    first = SessionTransition.get(SessionTransition.session == created["id"])
    assert (first.from_status, first.to_status) == (None, SessionStatus.SCHEDULED)


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"title": ""}, "body.title"),
    ({"type": "rave"}, "body.type"),
    ({"timezone": "Mars/Olympus"}, "body.timezone"),
    ({"scheduled_at": "2030-05-01T17:00:00"}, "body.scheduled_at"),  # naive
    ({"max_participants": 0}, "body.max_participants"),
    ({"is_free": False, "price_minor": 100}, "body"),  # no currency
    ({"currency": "eur"}, "body.currency"),
    ({"devices": [{"device_id": "a/b"}]}, "body.devices[0].device_id"),
    ({"colour": "red"}, "body.colour"),
]


@pytest.mark.parametrize(("fields", "path"), INVALID, ids=[c[1] for c in INVALID])
def test_invalid_sessions_name_the_field(
    db: Database, client: TestClient, fields: dict[str, Any], path: str
) -> None:
    world = build_world(db, "alpha")
    response = client.post(
        _sessions(world), headers=auth(world.tokens[Role.COACH]), json={"title": "S", **fields}
    )
    assert response.status_code == 422, fields
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert path in [field["path"] for field in error["fields"]], error


def test_references_must_be_this_organisations(db: Database, client: TestClient) -> None:
    world, other = build_world(db, "alpha"), build_world(db, "bravo")
    coach = auth(world.tokens[Role.COACH])
    for field, value in [
        ("team_id", str(other.team.id)),
        ("host_id", str(other.user_ids[Role.HOST])),
        ("form_template_id", str(other.form.id)),
    ]:
        response = client.post(_sessions(world), headers=coach, json={"title": "S", field: value})
        assert response.status_code == 404, field
        assert response.json()["error"]["fields"][0]["path"] == f"body.{field}"
    device = client.post(
        _sessions(world),
        headers=coach,
        json={"title": "S", "devices": [{"device_id": other.device_id}]},
    )
    assert device.status_code == 404
    assert device.json()["error"]["fields"][0]["path"] == "body.devices[0].device_id"
    guest_host = client.post(
        _sessions(world),
        headers=coach,
        json={"title": "S", "host_id": str(world.user_ids[Role.GUEST])},
    )
    assert (
        guest_host.status_code == 422
        and guest_host.json()["error"]["fields"][0]["code"] == "not_a_host"
    )


# Every action from every status: allowed (and where it leads) or 409.
LIFECYCLE = {
    "schedule": {"draft": "scheduled"},
    "start": {"draft": "live", "scheduled": "live"},
    "end": {"live": "ended"},
    "cancel": {"draft": "cancelled", "scheduled": "cancelled", "live": "cancelled"},
}


def test_transitions_are_enforced(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    for action, status in [(a, s) for a in LIFECYCLE for s in SessionStatus]:
        session = Session.create(
            org=world.org,
            title=status.value,
            status=status,
            scheduled_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
        response = client.post(f"{_sessions(world)}/{session.id}/{action}", headers=coach)
        expected = LIFECYCLE[action].get(status.value)
        if expected is None:
            assert response.status_code == 409, (action, status)
            assert response.json()["error"]["code"] == "invalid_transition"
            assert Session.get_by_id(session.id).status == status
        else:
            assert response.status_code == 200, (action, status, response.text)
            assert response.json()["session"]["status"] == expected
            change = SessionTransition.get(SessionTransition.session == session.id)
            assert (change.from_status, change.to_status) == (status, SessionStatus(expected))


def test_start_pins_the_form_and_tells_devices_end_clears_it(
    db: Database, client: TestClient, publisher: RecordingPublisher
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    second = make_device(world.org, "alpha-goal")
    session = _create(
        client,
        world,
        team_id=str(world.team.id),
        form_template_id=str(world.form.id),
        devices=[{"device_id": "alpha-goal"}],
    )
    # The form changes before the start: the session follows it until it starts.
    forms = f"/api/v1/orgs/{world.slug}/forms/{world.form.id}"
    fields = [{"key": "note", "label": "Note", "type": "text"}]
    client.patch(forms, headers=coach, json={"fields": fields})
    client.post(
        f"{_sessions(world)}/{world.session.id}/end", headers=coach
    )  # frees nothing: other device
    started = client.post(f"{_sessions(world)}/{session['id']}/start", headers=coach)
    assert started.status_code == 200, started.text
    assert started.json()["session"]["form_version"] == 2
    assert started.json()["devices"] == [
        {"device_id": second.id, "revision": 1, "published": True, "error": None}
    ]
    topic, payload, retained = publisher.published[-1]
    assert topic == "sideline/v1/alpha/alpha-goal/desired" and retained
    state = decode_as(DesiredState, payload)
    assert state.session is not None and str(state.session.session_id) == session["id"]
    assert state.session.form_version == 2
    assert state.session.form_fields == [
        {"key": "note", "label": "Note", "required": False, "type": "text"}
    ]
    # Editing the form now does not move the live session.
    client.patch(
        forms,
        headers=coach,
        json={"fields": [*fields, {"key": "x", "label": "X", "type": "boolean"}]},
    )
    assert (
        client.get(f"{_sessions(world)}/{session['id']}", headers=coach).json()["form_version"] == 2
    )
    ended = client.post(f"{_sessions(world)}/{session['id']}/end", headers=coach)
    assert ended.json()["devices"][0]["revision"] == 2
    cleared = decode_as(DesiredState, publisher.published[-1][1])
    assert cleared.revision == 2 and cleared.session is None


def test_a_device_records_one_live_session_at_a_time(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")  # its live session uses the device
    coach = auth(world.tokens[Role.COACH])
    other = _create(client, world, devices=[{"device_id": world.device_id}])
    busy = client.post(f"{_sessions(world)}/{other['id']}/start", headers=coach)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "device_busy"
    assert str(world.session.id) in busy.json()["error"]["message"]
    client.post(f"{_sessions(world)}/{world.session.id}/end", headers=coach)
    assert client.post(f"{_sessions(world)}/{other['id']}/start", headers=coach).status_code == 200


def test_a_broker_outage_does_not_block_the_start_but_is_reported(
    db: Database, client: TestClient, publisher: RecordingPublisher
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    session = _create(client, world, devices=[{"device_id": world.device_id}])
    client.post(f"{_sessions(world)}/{world.session.id}/end", headers=coach)
    publisher.fail = True
    started = client.post(f"{_sessions(world)}/{session['id']}/start", headers=coach).json()
    assert started["session"]["status"] == "live"
    assert started["devices"][0]["published"] is False
    assert "broker down" in started["devices"][0]["error"]


def test_editing_rules_follow_the_status(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    live = f"{_sessions(world)}/{world.session.id}"
    assert client.patch(live, headers=coach, json={"title": "Renamed"}).json()["title"] == "Renamed"
    refused = client.patch(live, headers=coach, json={"max_participants": 5})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "session_not_editable"
    draft = f"{_sessions(world)}/{world.draft.id}"
    cleared = client.patch(draft, headers=coach, json={"team_id": None, "max_participants": 3})
    assert cleared.json()["team_id"] is None and cleared.json()["max_participants"] == 3
    assert client.delete(live, headers=coach).status_code == 409  # live: end it first
    assert client.delete(draft, headers=coach).status_code == 204
    assert client.get(draft, headers=coach).status_code == 404
    assert Session.get_by_id(world.draft.id).deleted_at is not None  # soft


def test_cancel_keeps_the_reason(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    cancelled = client.post(
        f"{_sessions(world)}/{world.session.id}/cancel",
        headers=auth(world.tokens[Role.HOST]),
        json={"reason": "thunderstorm"},
    ).json()["session"]
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "thunderstorm"
    assert cancelled["cancelled_at"] is not None


def test_listing_pages_with_cursors_and_filters(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for day in range(12):
        Session.create(
            org=world.org,
            title=f"day {day}",
            status=SessionStatus.SCHEDULED,
            type="workshop" if day % 3 == 0 else "practice",
            scheduled_at=start + timedelta(days=day % 6, hours=day),
        )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "scheduled_at", "order": "asc", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = client.get(_sessions(world), headers=coach, params=params).json()
        seen.extend(item["scheduled_at"] for item in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 12 and seen == sorted(seen)
    workshops = client.get(_sessions(world), headers=coach, params={"type": "workshop"}).json()
    assert workshops["count"] == 4
    live = client.get(
        _sessions(world), headers=coach, params=[("status", "live"), ("status", "draft")]
    ).json()
    assert {item["status"] for item in live["data"]} == {"live", "draft"}
    wrong = client.get(
        _sessions(world),
        headers=coach,
        params={"order": "asc", "cursor": cursor or page_cursor(client, world)},
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["fields"][0]["path"] == "query.cursor"
    garbage = client.get(_sessions(world), headers=coach, params={"cursor": "not-a-cursor"})
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "validation_error"


def page_cursor(client: TestClient, world: World) -> str:
    """A cursor made for the default order (created_at, desc)."""
    page = client.get(
        _sessions(world), headers=auth(world.tokens[Role.COACH]), params={"limit": 1}
    ).json()
    return str(page["next_cursor"])


def test_guests_do_not_see_drafts(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    guest = auth(world.tokens[Role.GUEST])
    listed = {item["id"] for item in client.get(_sessions(world), headers=guest).json()["data"]}
    assert str(world.session.id) in listed and str(world.draft.id) not in listed
    assert client.get(f"{_sessions(world)}/{world.draft.id}", headers=guest).status_code == 404
    member = auth(world.tokens[Role.MEMBER])
    assert client.get(f"{_sessions(world)}/{world.draft.id}", headers=member).status_code == 200
