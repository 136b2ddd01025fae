"""Form templates (versions, sound definitions) and logs validated against them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.models import FormVersion, Log, LogOrigin, Role
from tests.cloud.api.world import World, auth, build_world, make_log


def _forms(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}/forms"


def _logs(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/logs"


EVERY_TYPE: list[dict[str, Any]] = [
    {
        "key": "name",
        "label": "Name",
        "type": "text",
        "min_length": 2,
        "max_length": 10,
        "pattern": "[A-Z].*",
    },
    {"key": "notes", "label": "Notes", "type": "long_text", "help_text": "Anything else"},
    {"key": "speed", "label": "Speed", "type": "number", "min": 0, "max": 45.5},
    {"key": "touches", "label": "Touches", "type": "integer", "min": 0, "default": 0},
    {"key": "scored", "label": "Scored", "type": "boolean"},
    {
        "key": "foot",
        "label": "Foot",
        "type": "select",
        "options": [{"value": "left"}, {"value": "right"}],
    },
    {
        "key": "tags",
        "label": "Tags",
        "type": "multi_select",
        "options": [{"value": "a"}, {"value": "b"}],
        "max_items": 1,
    },
    {"key": "day", "label": "Day", "type": "date", "min": "2026-01-01"},
    {"key": "kickoff", "label": "Kick-off", "type": "time", "max": "22:00"},
    {"key": "rest", "label": "Rest", "type": "duration", "max_seconds": 600},
    {"key": "who", "label": "Who", "type": "player", "required": True},
]


def test_a_form_with_every_field_type_validates_each_value(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    form = client.post(_forms(world), headers=coach, json={"name": "All", "fields": EVERY_TYPE})
    assert form.status_code == 201, form.text
    session = client.post(
        f"/api/v1/orgs/{world.slug}/sessions",
        headers=coach,
        json={"title": "T", "team_id": str(world.team.id), "form_template_id": form.json()["id"]},
    ).json()
    client.post(f"/api/v1/orgs/{world.slug}/sessions/{session['id']}/start", headers=coach)
    logs = f"/api/v1/orgs/{world.slug}/sessions/{session['id']}/logs"
    good = {
        "name": "Robin",
        "speed": 30.5,
        "scored": True,
        "foot": "left",
        "tags": ["a"],
        "day": "2026-03-01",
        "kickoff": "18:30",
        "rest": "01:30",
        "who": str(world.player.id),
    }
    created = client.post(logs, headers=coach, json={"data": good})
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert (
        data["rest"] == 90 and data["kickoff"] == "18:30:00" and data["touches"] == 0
    )  # normalised, default
    assert created.json()["form_version"] == 1
    bad = {
        "name": "robin" * 5,
        "speed": "fast",
        "touches": 2.5,
        "scored": "yes",
        "foot": "both",
        "tags": ["a", "b"],
        "day": "01/03/2026",
        "kickoff": "23:00",
        "rest": 601,
        "who": str(world.team.id),
        "extra": 1,
    }
    refused = client.post(logs, headers=coach, json={"data": bad})
    assert refused.status_code == 422
    codes = {field["path"]: field["code"] for field in refused.json()["error"]["fields"]}
    assert codes == {
        "body.data.name": "too_long",
        "body.data.speed": "not_a_number",
        "body.data.touches": "not_an_integer",
        "body.data.scored": "not_boolean",
        "body.data.foot": "not_an_option",
        "body.data.tags": "too_large",
        "body.data.day": "not_a_date",
        "body.data.kickoff": "too_large",
        "body.data.rest": "too_large",
        "body.data.who": "not_on_roster",
        "body.data.extra": "unknown_field",
    }
    missing = client.post(logs, headers=coach, json={"data": {"name": "Ab"}})
    assert [f["code"] for f in missing.json()["error"]["fields"]] == ["required"]
    pattern = client.post(
        logs, headers=coach, json={"data": {"name": "ab", "who": str(world.player.id)}}
    )
    assert pattern.json()["error"]["fields"][0]["code"] == "pattern_mismatch"


UNSOUND: list[tuple[list[dict[str, Any]], str, str]] = [
    ([{"key": "a", "label": "A", "type": "text"}] * 2, "body.fields", "unique"),
    ([{"key": "A b", "label": "A", "type": "text"}], "body.fields[0].key", "pattern"),
    ([{"key": "a", "label": "A", "type": "colour"}], "body.fields[0]", "tag"),
    (
        [{"key": "a", "label": "A", "type": "integer", "min": 5, "max": 1}],
        "body.fields[0]",
        "minimum",
    ),
    (
        [{"key": "a", "label": "A", "type": "text", "pattern": "("}],
        "body.fields[0]",
        "regular expression",
    ),
    (
        [
            {
                "key": "a",
                "label": "A",
                "type": "select",
                "options": [{"value": "x"}],
                "default": "y",
            }
        ],
        "body.fields[0]",
        "default",
    ),
    (
        [{"key": "a", "label": "A", "type": "select", "options": []}],
        "body.fields[0].options",
        "at least 1",
    ),
    ([], "body.fields", "at least 1"),
]


@pytest.mark.parametrize(("fields", "path", "fragment"), UNSOUND, ids=[c[1] for c in UNSOUND])
def test_unsound_forms_are_refused_with_the_field_path(
    db: Database, client: TestClient, fields: list[dict[str, Any]], path: str, fragment: str
) -> None:
    world = build_world(db, "alpha")
    response = client.post(
        _forms(world), headers=auth(world.tokens[Role.COACH]), json={"name": "F", "fields": fields}
    )
    assert response.status_code == 422, response.text
    found = {field["path"]: field["message"] for field in response.json()["error"]["fields"]}
    assert path in found, found
    assert fragment in found[path], found


def test_editing_fields_makes_a_new_version_and_logs_keep_theirs(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    form = f"{_forms(world)}/{world.form.id}"
    renamed = client.patch(form, headers=coach, json={"name": "Match log v"})
    assert renamed.json()["current_version"] == 1  # a rename is no new version
    same = client.patch(
        form, headers=coach, json={"fields": client.get(form, headers=coach).json()["fields"]}
    )
    assert same.json()["current_version"] == 1  # nor are identical fields
    changed = client.patch(
        form,
        headers=coach,
        json={"fields": [{"key": "note", "label": "Note", "type": "text", "required": True}]},
    )
    assert changed.json()["current_version"] == 2
    versions = client.get(f"{form}/versions", headers=coach).json()
    assert [v["version"] for v in versions["data"]] == [1, 2]
    assert client.get(f"{form}/versions/1", headers=coach).json()["fields"][0]["key"] == "player"
    # The live session was pinned to version 1: entries are still checked against it.
    entry = client.post(
        _logs(world),
        headers=coach,
        json={"data": {"player": str(world.player.id), "action": "tackle"}},
    )
    assert entry.status_code == 201 and entry.json()["form_version"] == 1
    # Editing an old entry checks it against the version it was written with.
    edited = client.patch(
        f"{_logs(world)}/{world.log.id}", headers=coach, json={"data": {"action": "tackle"}}
    )
    assert (
        edited.status_code == 422
        and edited.json()["error"]["fields"][0]["path"] == "body.data.player"
    )
    fixed = client.patch(
        f"{_logs(world)}/{world.log.id}",
        headers=coach,
        json={"data": {"player": str(world.player.id), "action": "pass"}},
    )
    assert fixed.status_code == 200 and fixed.json()["data"]["action"] == "pass"
    assert FormVersion.select().where(FormVersion.template == world.form.id).count() == 2


def test_logs_of_devices_carry_their_source_and_are_read_only(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    marker = make_log(
        world.org, world.session, device=world.device_id, camera_id="cam1", data={"note": "corner"}
    )
    listed = client.get(_logs(world), headers=coach, params={"source": "marker"}).json()
    assert [(e["id"], e["origin"], e["source"], e["device_id"]) for e in listed["data"]] == [
        (str(marker.id), "device", "marker", world.device_id)
    ]
    edit = client.patch(f"{_logs(world)}/{marker.id}", headers=coach, json={"type": "x"})
    assert edit.status_code == 409 and edit.json()["error"]["code"] == "device_log_read_only"
    assert client.delete(f"{_logs(world)}/{marker.id}", headers=coach).status_code == 204
    assert client.get(f"{_logs(world)}/{marker.id}", headers=coach).status_code == 404
    assert Log.get_by_id(marker.id).deleted_at is not None


def test_logs_are_written_only_once_a_session_started(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    draft_logs = f"/api/v1/orgs/{world.slug}/sessions/{world.draft.id}/logs"
    refused = client.post(draft_logs, headers=auth(world.tokens[Role.COACH]), json={"data": {}})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "session_not_started"


def test_a_session_without_a_form_takes_free_form_entries(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    sessions = f"/api/v1/orgs/{world.slug}/sessions"
    session = client.post(sessions, headers=coach, json={"title": "Free"}).json()
    client.post(f"{sessions}/{session['id']}/start", headers=coach)
    entry = client.post(
        f"{sessions}/{session['id']}/logs", headers=coach, json={"data": {"anything": [1, 2]}}
    )
    assert entry.status_code == 201 and entry.json()["form_version"] is None
    assert Log.get_by_id(entry.json()["id"]).origin == LogOrigin.API


def test_log_pages_do_not_repeat_or_skip(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    for number in range(25):
        make_log(world.org, world.session, type=f"m{number}")
    coach = auth(world.tokens[Role.COACH])
    seen, cursor = [], None
    while True:
        page = client.get(
            _logs(world),
            headers=coach,
            params={"limit": 7, **({"cursor": cursor} if cursor else {})},
        ).json()
        seen += [item["id"] for item in page["data"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert len(seen) == len(set(seen)) == 26
