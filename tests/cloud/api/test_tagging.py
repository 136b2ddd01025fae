"""Logging is tagging: a form's clip settings, a log's window asked of every device,
range clips, re-trims, and the log <-> clip links the listings and the timeline show.

The broker is :class:`RecordingPublisher` here (what was published is read back and
decoded); the round trip through the real agent is tests/test_tagging_e2e.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from peewee import Database

from cloud.models import Clip, ClipStatus, DeviceStatus, Log, Role, utc_now
from cloud.tagging import promote_replacement
from protocol import ClipRange, Command, DesiredState, decode_as, format_utc
from tests.cloud.api.world import (
    FORM_FIELDS,
    RecordingPublisher,
    World,
    auth,
    build_world,
    make_clip,
)
from tests.cloud.factories import make_device

CLIP_SETTINGS = {
    "lead_s": 10,
    "lag_s": 5,
    "by_field": "action",
    "values": {"shot": {"lead_s": 15, "lag_s": 8}},
}


def _org(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}"


def _fields(path: str, response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [field["path"] for field in response.json()["error"]["fields"]]


def _sent(publisher: RecordingPublisher) -> list[Command]:
    return [
        decode_as(Command, payload)
        for topic, payload, _ in publisher.published
        if topic.endswith("/commands")
    ]


def _tagging_session(client: TestClient, world: World, *devices: str) -> dict[str, Any]:
    """A live session with a form that tags, on ``devices`` (the world's own session ended)."""
    coach = auth(world.tokens[Role.COACH])
    client.post(f"{_org(world)}/sessions/{world.session.id}/end", headers=coach)
    form = client.post(
        f"{_org(world)}/forms",
        headers=coach,
        json={"name": "Code window", "fields": FORM_FIELDS, "clip": CLIP_SETTINGS},
    )
    assert form.status_code == 201, form.text
    session = client.post(
        f"{_org(world)}/sessions",
        headers=coach,
        json={
            "title": "Match",
            "team_id": str(world.team.id),
            "form_template_id": form.json()["id"],
            "devices": [{"device_id": d} for d in devices],
        },
    ).json()
    assert session["tagging"] is True  # the form tags
    started = client.post(f"{_org(world)}/sessions/{session['id']}/start", headers=coach)
    assert started.status_code == 200, started.text
    return dict(session)


def test_a_form_carries_lead_and_lag_per_value_and_bad_settings_name_their_field(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    forms = f"{_org(world)}/forms"
    created = client.post(
        forms, headers=coach, json={"name": "Code", "fields": FORM_FIELDS, "clip": CLIP_SETTINGS}
    )
    assert created.status_code == 201 and created.json()["clip"]["values"]["shot"] == {
        "lead_s": 15,
        "lag_s": 8,
    }

    def bad(clip: dict[str, Any]) -> list[str]:
        body = {"name": "Code", "fields": FORM_FIELDS, "clip": clip}
        return _fields("", client.post(forms, headers=coach, json=body))

    assert bad({"lead_s": -1, "lag_s": 5}) == ["body.clip.lead_s"]
    assert bad({"lead_s": 10, "lag_s": 61}) == ["body.clip.lag_s"]  # the boxes' 60 s ahead
    assert bad({"lead_s": 301, "lag_s": 5}) == ["body.clip.lead_s"]
    assert bad({"lead_s": 10, "lag_s": 5, "by_field": "minute"}) == ["body.clip.by_field"]
    assert bad({**CLIP_SETTINGS, "values": {"goal": {"lead_s": 1, "lag_s": 1}}}) == [
        "body.clip.values.goal"
    ]
    assert bad({**CLIP_SETTINGS, "values": {"shot": {"lead_s": 1, "lag_s": 99}}}) == [
        "body.clip.values.shot.lag_s"
    ]

    # New timing is a new version; the fields carry over, and removing a select field the
    # settings use is refused.
    url = f"{forms}/{created.json()['id']}"
    retimed = client.patch(url, headers=coach, json={"clip": {"lead_s": 4, "lag_s": 2}})
    assert retimed.json()["current_version"] == 2 and retimed.json()["clip"]["lead_s"] == 4
    dropped = client.patch(url, headers=coach, json={"clip": None})
    assert dropped.json()["current_version"] == 3 and dropped.json()["clip"] is None
    client.patch(url, headers=coach, json={"clip": CLIP_SETTINGS})
    no_action = [field for field in FORM_FIELDS if field["key"] != "action"]
    assert _fields("", client.patch(url, headers=coach, json={"fields": no_action})) == [
        "body.clip.by_field"
    ]


def test_a_log_asks_every_device_of_the_session_for_its_window_at_the_moment_it_happened(
    db: Database, client: TestClient, publisher: RecordingPublisher
) -> None:
    world = build_world(db, "alpha")
    second = make_device(world.org, "alpha-far-side").id
    session = _tagging_session(client, world, world.device_id, second)
    desired = [
        decode_as(DesiredState, payload)
        for topic, payload, _ in publisher.published
        if topic.endswith("/desired")
    ]
    assert desired[-1].session is not None and desired[-1].recording is True  # records while live
    publisher.published.clear()
    coach = auth(world.tokens[Role.COACH])
    logs = f"{_org(world)}/sessions/{session['id']}/logs"
    entry = {"player": str(world.player.id), "action": "shot"}
    pressed = utc_now() - timedelta(seconds=3)  # the press, a few seconds before the submit

    assert _fields("", client.post(logs, headers=coach, json={"data": entry})) == [
        "body.occurred_at"
    ]
    future = format_utc(utc_now() + timedelta(minutes=2))
    assert _fields(
        "", client.post(logs, headers=coach, json={"data": entry, "occurred_at": future})
    ) == ["body.occurred_at"]
    at = format_utc(pressed)
    assert _fields(
        "", client.post(logs, headers=coach, json={"data": entry, "occurred_at": at, "lead_s": -2})
    ) == ["body.lead_s"]
    assert _fields(
        "", client.post(logs, headers=coach, json={"data": entry, "occurred_at": at, "lag_s": 120})
    ) == ["body.lag_s"]
    assert publisher.published == []  # nothing was asked for a refused log

    created = client.post(logs, headers=coach, json={"data": entry, "occurred_at": at})
    assert created.status_code == 201, created.text
    log = created.json()
    assert (log["clip_lead_s"], log["clip_lag_s"]) == (15, 8)  # the 'shot' button's timing
    assert {r["device_id"] for r in log["clip_requests"]} == {world.device_id, second}
    assert {r["progress"] for r in log["clip_requests"]} == {"sent"}
    commands = _sent(publisher)
    assert sorted(c.device_id for c in commands) == sorted([world.device_id, second])
    for command in commands:
        body = command.command
        assert isinstance(body, ClipRange) and str(body.log_id) == log["id"]
        assert body.start == pressed - timedelta(seconds=15)
        assert body.end == pressed + timedelta(seconds=8) and body.at == pressed
        assert str(body.session_id) == session["id"] and body.note == "entry"
    stored = Log.get_by_id(log["id"])
    assert stored.clips_requested_at is not None  # claimed: nothing asks twice

    # Another value falls back to the form's own timing.
    other = client.post(
        logs,
        headers=coach,
        json={"data": {**entry, "action": "pass"}, "occurred_at": at},
    ).json()
    assert (other["clip_lead_s"], other["clip_lag_s"]) == (10, 5)

    # A box that reported smaller limits is held to them.
    DeviceStatus.create(
        device=second,
        clip_limits={"max_lag_s": 4, "max_range_s": 600, "max_pre_s": 30, "max_post_s": 4},
    )
    refused = client.post(logs, headers=coach, json={"data": entry, "occurred_at": at})
    assert _fields("", refused) == ["body.lag_s"] and "4 s" in refused.text


def test_range_clips_are_asked_of_the_sessions_devices_and_bad_ranges_name_their_field(
    db: Database, client: TestClient, publisher: RecordingPublisher
) -> None:
    world = build_world(db, "alpha")
    session = _tagging_session(client, world, world.device_id)
    publisher.published.clear()
    coach = auth(world.tokens[Role.COACH])
    ranges = f"{_org(world)}/sessions/{session['id']}/clips/range"
    now = utc_now()

    def at(seconds: float) -> str:
        return format_utc(now + timedelta(seconds=seconds))

    accepted = client.post(ranges, headers=coach, json={"last_s": 120, "note": "that spell"})
    assert accepted.status_code == 202, accepted.text
    [command] = _sent(publisher)
    assert isinstance(command.command, ClipRange) and command.command.note == "that spell"
    span = command.command.end - command.command.start
    assert span == timedelta(seconds=120) and command.command.end >= now
    assert accepted.json()["command_ids"] == [str(command.command_id)]

    assert _fields("", client.post(ranges, headers=coach, json={"start": at(-60)})) == ["body.end"]
    assert _fields("", client.post(ranges, headers=coach, json={})) == ["body.start", "body.end"]
    assert _fields(
        "", client.post(ranges, headers=coach, json={"start": at(-10), "end": at(-20)})
    ) == ["body.end"]
    assert _fields(
        "", client.post(ranges, headers=coach, json={"start": at(60), "end": at(70)})
    ) == ["body.start"]
    assert _fields(
        "", client.post(ranges, headers=coach, json={"start": at(-900), "end": at(-10)})
    ) == ["body.end"]  # longer than the 600 s allowed
    assert _fields(
        "", client.post(ranges, headers=coach, json={"start": at(-10), "end": at(300)})
    ) == ["body.end"]  # further ahead than a box cuts
    assert _fields("", client.post(ranges, headers=coach, json={"last_s": -5})) == ["body.last_s"]
    assert _fields("", client.post(ranges, headers=coach, json={"last_s": 700})) == ["body.last_s"]
    assert len(_sent(publisher)) == 1

    draft = f"{_org(world)}/sessions/{world.draft.id}/clips/range"
    assert client.post(draft, headers=coach, json={"last_s": 30}).status_code == 409


def test_a_retrim_replaces_the_clip_once_the_new_one_is_ready_and_keeps_both_ids(
    db: Database, client: TestClient, publisher: RecordingPublisher
) -> None:
    world = build_world(db, "alpha")
    session = _tagging_session(client, world, world.device_id)
    coach = auth(world.tokens[Role.COACH])
    base = f"{_org(world)}/sessions/{session['id']}"
    pressed = utc_now() - timedelta(seconds=20)
    log = client.post(
        f"{base}/logs",
        headers=coach,
        json={
            "data": {"player": str(world.player.id), "action": "tackle"},
            "occurred_at": format_utc(pressed),
        },
    ).json()
    from cloud.models import Session

    live = Session.get_by_id(session["id"])
    old = make_clip(
        world.org,
        live,
        world.device_id,
        camera_id="left",
        started_at=pressed - timedelta(seconds=10),
        log_id=log["id"],
        title="Tackle",
        tags=["defence"],
    )
    publisher.published.clear()
    url = f"{base}/clips/{old.id}/retrim"
    assert _fields("", client.post(url, headers=coach, json={"lead_s": -1, "lag_s": 2})) == [
        "body.lead_s"
    ]
    assert _fields("", client.post(url, headers=coach, json={"lead_s": 3, "lag_s": 61})) == [
        "body.lag_s"
    ]
    accepted = client.post(url, headers=coach, json={"lead_s": 4, "lag_s": 2})
    assert accepted.status_code == 202, accepted.text
    [command] = _sent(publisher)
    body = command.command
    assert isinstance(body, ClipRange) and body.replaces == old.id and body.camera_id == "left"
    assert (body.start, body.end, body.at) == (
        pressed - timedelta(seconds=4),
        pressed + timedelta(seconds=2),
        pressed,
    )
    assert str(body.log_id) == log["id"]

    # The box's new clip arrives, pending: the old one is still the one shown.
    new = make_clip(
        world.org,
        live,
        world.device_id,
        camera_id="left",
        started_at=pressed - timedelta(seconds=4),
        log_id=log["id"],
        replaces_id=old.id,
        status=ClipStatus.PENDING,
    )
    shown = client.get(f"{base}/logs/{log['id']}", headers=coach).json()
    assert [c["id"] for c in shown["clips"]] == [str(old.id)]
    # Verified: it takes the old one's place, title and tags; both stay readable.
    Clip.update(status=ClipStatus.READY).where(Clip.id == new.id).execute()
    assert promote_replacement(Clip.get_by_id(new.id)) is True
    assert promote_replacement(Clip.get_by_id(new.id)) is False  # once
    shown = client.get(f"{base}/logs/{log['id']}", headers=coach).json()
    assert [c["id"] for c in shown["clips"]] == [str(new.id)]
    assert shown["clips"][0]["replaces_id"] == str(old.id)
    assert (shown["clips"][0]["title"], shown["clips"][0]["tags"]) == ("Tackle", ["defence"])
    history = client.get(f"{base}/clips/{old.id}", headers=coach).json()
    assert history["replaced_by_id"] == str(new.id)
    listed = client.get(f"{base}/clips", headers=coach).json()["data"]
    assert str(old.id) not in [c["id"] for c in listed] and str(new.id) in [c["id"] for c in listed]
    again = client.post(url, headers=coach, json={"lead_s": 4, "lag_s": 2})
    assert again.status_code == 409 and again.json()["error"]["code"] == "clip_replaced"

    # Re-trimming the whole log re-cuts each current clip.
    publisher.published.clear()
    whole = client.post(
        f"{base}/logs/{log['id']}/retrim", headers=coach, json={"lead_s": 6, "lag_s": 3}
    )
    assert whole.status_code == 202
    [command] = _sent(publisher)
    assert isinstance(command.command, ClipRange) and command.command.replaces == new.id
    assert Log.get_by_id(log["id"]).clip_lead_s == 6


def test_the_timeline_shows_a_log_with_its_clips_as_one_item_and_each_clip_with_its_logs(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    session = world.session
    pressed = utc_now() - timedelta(minutes=2)
    from tests.cloud.api.world import make_log

    tag = make_log(
        world.org,
        session,
        type="goal",
        occurred_at=pressed,
        clip_lead_s=10,
        clip_lag_s=5,
        device=world.device_id,
    )
    clips = [
        make_clip(
            world.org,
            session,
            world.device_id,
            camera_id=camera,
            started_at=pressed - timedelta(seconds=10),
            log_id=tag.id,
            clock_skew_ms=-40.0,
        )
        for camera in ("left", "right")
    ]
    member = auth(world.tokens[Role.MEMBER])
    timeline = f"{_org(world)}/sessions/{session.id}/timeline"
    items = client.get(timeline, headers=member).json()["data"]
    ids = [item["id"] for item in items]
    assert str(tag.id) in ids and not {str(c.id) for c in clips} & set(ids)  # folded in
    [item] = [i for i in items if i["id"] == str(tag.id)]
    assert sorted(c["camera_id"] for c in item["data"]["clips"]) == ["left", "right"]
    assert all(c["playback_url"] and c["clock_skew_ms"] == -40.0 for c in item["data"]["clips"])
    assert item["data"]["clip_lead_s"] == 10

    # Asked for clips only, they are items of their own, each with the logs in its range.
    only_clips = client.get(timeline, headers=member, params={"type": "clip"}).json()["data"]
    listed = {i["id"]: i for i in only_clips}
    assert {str(c.id) for c in clips} <= set(listed)
    assert [entry["id"] for entry in listed[str(clips[0].id)]["data"]["logs"]] == [str(tag.id)]
    # A deleted log gives its clips back to the timeline.
    Log.update(deleted_at=utc_now()).where(Log.id == tag.id).execute()
    items = client.get(timeline, headers=member).json()["data"]
    assert {str(c.id) for c in clips} <= {item["id"] for item in items}
