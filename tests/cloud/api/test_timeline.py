"""The timeline: one chronological stream, filters, stable cursors, export for AI."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.schemas.timeline import ClipItem, TimelineDocument, TimelinePublic
from cloud.models import (
    Clip,
    ClipStatus,
    DetectionEventRecord,
    LogOrigin,
    Role,
    SessionTransition,
    utc_now,
)
from protocol.ids import new_id
from tests.cloud.api.world import World, auth, build_world, make_clip, make_log


def _timeline(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/timeline"


def _read_all(client: TestClient, world: World, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = client.get(_timeline(world), headers=auth(world.tokens[Role.MEMBER]), params=query)
        assert page.status_code == 200, page.text
        items += page.json()["data"]
        if (cursor := page.json()["next_cursor"]) is None:
            return items


def _mixed(world: World) -> dict[str, str]:
    """One item of each kind at known times, some at the same instant."""
    base = world.session.started_at + timedelta(minutes=1)
    same = base + timedelta(seconds=30)
    marker = make_log(
        world.org, world.session, occurred_at=same, device=world.device_id, camera_id="cam1"
    )
    system = make_log(
        world.org,
        world.session,
        occurred_at=base,
        source="system",
        type="camera_lost",
        device=world.device_id,
    )
    coach = make_log(
        world.org,
        world.session,
        occurred_at=same,
        origin=LogOrigin.API,
        source="coach",
        type="entry",
    )
    clip = make_clip(
        world.org, world.session, world.device_id, started_at=same, trigger_source="cloud"
    )
    event = DetectionEventRecord.create(
        id=new_id(),
        org=world.org,
        device=world.device_id,
        session=world.session,
        camera_id="cam2",
        occurred_at=base + timedelta(seconds=10),
        kind="count",
        label="person",
        count=11,
        zone="box",
    )
    return {
        "marker": str(marker.id),
        "system": str(system.id),
        "coach": str(coach.id),
        "clip": str(clip.id),
        "event": str(event.id),
    }


def test_every_kind_in_one_chronological_stream(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    ids = _mixed(world)
    items = _read_all(client, world)
    keys = [(item["timestamp"], item["id"]) for item in items]
    assert keys == sorted(keys)  # time, then id: the same order on both databases
    by_id = {item["id"]: item for item in items}
    assert by_id[ids["marker"]]["type"] == "marker" and by_id[ids["system"]]["type"] == "log"
    assert by_id[ids["clip"]]["type"] == "clip" and by_id[ids["clip"]]["data"]["playback_url"]
    assert by_id[ids["event"]]["type"] == "detection" and by_id[ids["event"]]["data"]["count"] == 11
    assert {item["type"] for item in items} == {"lifecycle", "log", "marker", "clip", "detection"}
    newest_first = _read_all(client, world, order="desc", limit=2)
    assert [item["id"] for item in newest_first] == [item["id"] for item in reversed(items)]


FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"type": "marker"}, {"marker"}),
    ({"type": ["clip", "detection"]}, {"clip", "event", "world_clip", "world_event"}),
    ({"source": "system"}, {"system"}),
    ({"source": ["cloud", "coach"]}, {"clip", "coach", "world_log"}),
    ({"device_id": "alpha-field", "type": ["log", "marker"]}, {"marker", "system"}),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS, ids=[str(c[0]) for c in FILTERS])
def test_filters(
    db: Database, client: TestClient, params: dict[str, Any], expected: set[str]
) -> None:
    world = build_world(db, "alpha")
    ids = _mixed(world)
    ids |= {
        "world_clip": str(world.clip.id),
        "world_event": str(world.event.id),
        "world_log": str(world.log.id),
    }
    found = {item["id"] for item in _read_all(client, world, **params)}
    assert found == {ids[name] for name in expected}, params


def test_time_range(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    ids = _mixed(world)
    base = world.session.started_at + timedelta(minutes=1)
    window = {"since": base.isoformat(), "until": (base + timedelta(seconds=30)).isoformat()}
    assert {item["id"] for item in _read_all(client, world, **window)} == {
        ids["system"],
        ids["event"],
    }


def test_pages_neither_skip_nor_repeat_while_items_arrive(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    start = world.session.started_at
    existing = {
        str(make_log(world.org, world.session, occurred_at=start + timedelta(seconds=n // 3)).id)
        for n in range(120)
    }
    existing |= {str(world.log.id), str(world.clip.id), str(world.event.id)}
    existing |= {
        str(t.id)
        for t in SessionTransition.select().where(SessionTransition.session == world.session.id)
    }
    stop = threading.Event()
    added: list[str] = []

    def keep_inserting() -> None:
        # New items land before, between and after the pages being read, some at
        # the very instants already on the timeline.
        n = 0
        while not stop.is_set():
            at = start + timedelta(seconds=(n * 7) % 60)
            added.append(str(make_log(world.org, world.session, occurred_at=at).id))
            n += 1
            stop.wait(0.002)

    writer = threading.Thread(target=keep_inserting)
    writer.start()
    try:
        seen = [item["id"] for item in _read_all(client, world, limit=9)]
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen)), "an item was repeated"
    assert existing <= set(seen), "an item that existed before the first page was skipped"
    assert added, "the writer wrote nothing meanwhile"
    assert set(seen) - existing <= set(added)


def test_a_bad_cursor_or_a_cursor_of_another_order_is_refused(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    member = auth(world.tokens[Role.MEMBER])
    page = client.get(_timeline(world), headers=member, params={"limit": 1}).json()
    flipped = client.get(
        _timeline(world), headers=member, params={"cursor": page["next_cursor"], "order": "desc"}
    )
    assert flipped.status_code == 422 and "order" in flipped.json()["error"]["message"]
    other = client.get(
        f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/logs",
        headers=member,
        params={"cursor": page["next_cursor"]},
    )
    assert other.status_code == 422


def test_export_gives_every_item_as_a_document(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    _mixed(world)
    member = auth(world.tokens[Role.MEMBER])
    export = f"{_timeline(world)}/export"
    lines = client.get(export, headers=member)
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    documents = [TimelineDocument.model_validate_json(line) for line in lines.text.splitlines()]
    assert [d.id for d in documents] == [d.item.id for d in documents]
    assert len(documents) == len(_read_all(client, world))
    coach_log = next(
        d
        for d in documents
        if d.item.type == "log" and d.item.source == "coach" and d.item.data.data
    )
    assert "Alex Keeper" in coach_log.text  # roster ids become names for the index
    assert all(d.session.org == "alpha" for d in documents)
    zipped = client.get(export, headers=member, params={"format": "zip"})
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    assert sorted(archive.namelist()) == sorted(f"{d.id}.json" for d in documents)
    one = json.loads(archive.read(f"{documents[0].id}.json"))
    assert one["item"]["id"] == str(documents[0].id)
    clip = next(d.item for d in documents if d.item.type == "clip")
    assert isinstance(clip, ClipItem)
    assert clip.data.playback_url is None  # presigned URLs expire: not for an index


def test_late_device_records_join_the_timeline_in_their_place(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    early = world.session.started_at + timedelta(seconds=5)
    first = _read_all(client, world)
    late = make_clip(
        world.org, world.session, world.device_id, started_at=early, received_at=utc_now()
    )
    after = [item["id"] for item in _read_all(client, world)]
    assert after.index(str(late.id)) == 1  # just after the session went live
    assert len(after) == len(first) + 1


def test_the_listing_json_is_exactly_the_schemas(db: Database, client: TestClient) -> None:
    """The listing serialises plain items without validating each one: what it sends
    must be what validating the page as TimelinePublic and dumping it gives, field
    for field (no extra keys, ids, times, enums and URLs in the schema's form)."""
    world = build_world(db, "alpha")
    _mixed(world)
    SessionTransition.create(
        session=world.session, from_status="live", to_status="ended", occurred_at=utc_now()
    )
    response = client.get(
        _timeline(world), headers=auth(world.tokens[Role.MEMBER]), params={"limit": 4}
    )
    assert response.status_code == 200
    sent = response.json()
    assert sent["count"] == 4 and sent["next_cursor"]
    everything = client.get(
        _timeline(world), headers=auth(world.tokens[Role.MEMBER]), params={"limit": 500}
    ).json()
    assert {item["type"] for item in everything["data"]} == {
        "lifecycle",
        "log",
        "marker",
        "clip",
        "detection",
    }
    for page in (sent, everything):
        validated = TimelinePublic.model_validate(page)
        assert validated.model_dump(mode="json") == page
        assert list(page) == list(TimelinePublic.model_fields)  # same keys, same order


def test_a_failed_clip_is_on_the_timeline_with_its_reason_and_no_video(
    db: Database, client: TestClient
) -> None:
    """A press whose clip the box could not make (a power cut in its post-roll) is still a
    clip item, so the coach sees what became of it; a pending one is not shown yet."""
    world = build_world(db, "alpha")
    at = world.session.started_at + timedelta(seconds=20)
    reason = "power lost before the clip was complete"
    failed = make_clip(
        world.org,
        world.session,
        world.device_id,
        started_at=at,
        status=ClipStatus.FAILED,
        failure_reason=reason,
    )
    # What the ingest stores for it: no object.
    Clip.update(object_key="", thumbnail_key=None, size_bytes=0, sha256="").where(
        Clip.id == failed.id
    ).execute()
    pending = make_clip(
        world.org, world.session, world.device_id, started_at=at, status=ClipStatus.PENDING
    )
    ready = make_clip(world.org, world.session, world.device_id, started_at=at)
    clips = {item["id"]: item for item in _read_all(client, world) if item["type"] == "clip"}
    assert {str(failed.id), str(ready.id)} <= set(clips) and str(pending.id) not in clips
    shown = clips[str(failed.id)]["data"]
    assert (shown["status"], shown["failure_reason"]) == ("failed", reason)
    assert shown["playback_url"] is None and shown["thumbnail_url"] is None
    assert clips[str(ready.id)]["data"]["failure_reason"] is None
