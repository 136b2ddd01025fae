"""Clips (presigned URLs, title, tags, soft delete) and phone-triggered clip commands."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from peewee import Database

from cloud.devices.commands import record_ack
from cloud.models import Clip, ClipStatus, Command, CommandAckRecord, CommandState, Role, utc_now
from protocol.codec import decode_as
from protocol.control import Command as CommandMessage
from protocol.device import AckStatus, CommandAck
from protocol.ids import new_id
from tests.cloud.api.world import RecordingPublisher, World, auth, build_world, make_clip


def _clips(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/clips"


def test_clips_list_only_verified_ones_with_presigned_urls(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    make_clip(world.org, world.session, world.device_id, status=ClipStatus.PENDING)
    make_clip(world.org, world.session, world.device_id, status=ClipStatus.FAILED)
    member = auth(world.tokens[Role.MEMBER])
    listed = client.get(_clips(world), headers=member).json()
    assert [clip["id"] for clip in listed["data"]] == [str(world.clip.id)]
    clip = listed["data"][0]
    playback = urlsplit(clip["playback_url"])
    assert playback.path == f"/sideline-clips/{world.clip.object_key}"
    query = parse_qs(playback.query)
    assert query["X-Amz-Expires"] == ["600"] and query["response-content-type"] == ["video/mp4"]
    assert "X-Amz-Signature" in query
    assert urlsplit(clip["thumbnail_url"]).path.endswith(".jpg")
    assert clip["urls_expire_at"] is not None


def test_coaches_title_tag_and_soft_delete_clips(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    url = f"{_clips(world)}/{world.clip.id}"
    edited = client.patch(
        url, headers=coach, json={"title": "Top corner", "tags": ["goal", " goal ", "set piece"]}
    )
    assert edited.status_code == 200
    assert (edited.json()["title"], edited.json()["tags"]) == ("Top corner", ["goal", "set piece"])
    too_long = client.patch(url, headers=coach, json={"tags": ["x" * 65]})
    assert (
        too_long.status_code == 422
        and too_long.json()["error"]["fields"][0]["path"] == "body.tags[0]"
    )
    assert client.delete(url, headers=coach).status_code == 204
    assert client.get(url, headers=coach).status_code == 404
    row = Clip.get_by_id(world.clip.id)
    assert row.deleted_at is not None and str(row.deleted_by_id) == str(world.user_ids[Role.COACH])


def test_a_phone_trigger_sends_one_command_per_device_and_returns_202(
    db: Database, client: TestClient, publisher: RecordingPublisher
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    accepted = client.post(
        _clips(world), headers=coach, json={"pre_s": 20, "post_s": 10, "note": "great save"}
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert len(body["command_ids"]) == 1 and body["commands"][0]["progress"] == "sent"
    topic, payload, retained = publisher.published[-1]
    assert topic == f"sideline/v1/alpha/{world.device_id}/commands" and not retained
    message = decode_as(CommandMessage, payload)
    assert str(message.command_id) == body["command_ids"][0]
    assert message.command.type == "trigger_clip"
    assert (message.command.pre_s, message.command.post_s, message.command.note) == (
        20,
        10,
        "great save",
    )
    assert str(message.command.session_id) == str(world.session.id)
    assert message.expires_at - message.issued_at == timedelta(seconds=60)
    state = client.get(
        f"/api/v1/orgs/{world.slug}/commands/{body['command_ids'][0]}", headers=coach
    )
    assert state.json()["state"] == "sent"


def test_a_trigger_needs_a_live_session_with_a_device(
    db: Database, client: TestClient, publisher: RecordingPublisher
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    draft = client.post(f"/api/v1/orgs/{world.slug}/sessions/{world.draft.id}/clips", headers=coach)
    assert draft.status_code == 409 and draft.json()["error"]["code"] == "session_not_live"
    sessions = f"/api/v1/orgs/{world.slug}/sessions"
    bare = client.post(sessions, headers=coach, json={"title": "No camera"}).json()
    client.post(f"{sessions}/{bare['id']}/start", headers=coach)
    none = client.post(f"{sessions}/{bare['id']}/clips", headers=coach)
    assert none.status_code == 409 and none.json()["error"]["code"] == "no_devices"
    other = client.post(_clips(world), headers=coach, json={"device_id": "not-this-sessions"})
    assert other.status_code == 404
    publisher.fail = True
    failed = client.post(_clips(world), headers=coach).json()["commands"][0]
    assert failed["progress"] == "failed" and "broker down" in failed["reason"]


def _ack(world: World, command_id: object, status: AckStatus, **fields: object) -> CommandAck:
    return CommandAck(
        org=world.slug, device_id=world.device_id, command_id=command_id, status=status, **fields
    )


def test_acks_move_a_command_on_and_its_clip_shows_it_uploaded(
    db: Database, client: TestClient
) -> None:
    # The ingest records acks (cloud.devices.commands.record_ack); the API shows where a command is.
    world = build_world(db, "alpha")
    command = world.command
    coach = auth(world.tokens[Role.COACH])
    url = f"/api/v1/orgs/{world.slug}/commands/{command.id}"
    record_ack(world.device_id, _ack(world, command.id, AckStatus.ACCEPTED), utc_now())
    assert client.get(url, headers=coach).json()["progress"] == "acknowledged"
    clip_id = new_id()
    done = _ack(world, command.id, AckStatus.DONE, result={"clip_ids": [str(clip_id)]})
    record_ack(world.device_id, done, utc_now())
    assert client.get(url, headers=coach).json()["progress"] == "done"
    assert Command.get_by_id(command.id).state == CommandState.DONE
    assert CommandAckRecord.select().where(CommandAckRecord.command == command.id).count() == 2
    # The clip arrives (the ingest verified it): the command's clip is uploaded.
    make_clip(world.org, world.session, world.device_id, id=clip_id, trigger_source="cloud")
    final = client.get(url, headers=coach).json()
    assert final["progress"] == "clip_uploaded" and final["clip_ids"] == [str(clip_id)]


def test_an_unanswered_command_shows_as_expired(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    Command.update(expires_at=utc_now() - timedelta(seconds=1)).where(
        Command.id == world.command.id
    ).execute()
    listed = client.get(
        f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/commands",
        headers=auth(world.tokens[Role.MEMBER]),
    ).json()
    assert [c["progress"] for c in listed["data"]] == ["expired"]
