"""Playlists (by hand, by tag, by player; reordered) and share links (signed, expiring,
revocable, read-only, nothing else of the organisation reachable through them).

The page a link opens is played in Chromium with real clips in tests/test_tagging_e2e.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.access.sharing import ShareSigner
from cloud.models import Clip, Role, ShareLink, utc_now
from tests.cloud.api.world import World, auth, build_world, make_clip, make_log


def _org(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}"


def _clips(world: World, count: int, **fields: Any) -> list[Clip]:
    start = utc_now() - timedelta(minutes=30)
    return [
        make_clip(
            world.org,
            world.session,
            world.device_id,
            started_at=start + timedelta(minutes=index),
            **fields,
        )
        for index in range(count)
    ]


def _token(url: str) -> str:
    path = urlsplit(url).path
    assert path.startswith("/share/")
    return path.removeprefix("/share/")


def test_playlists_by_hand_by_tag_and_by_player_in_order_and_reordered(
    db: Database, client: TestClient
) -> None:
    world, other = build_world(db, "alpha"), build_world(db, "bravo")
    coach = auth(world.tokens[Role.COACH])
    playlists = f"{_org(world)}/playlists"
    a, b, c = _clips(world, 3)
    goal_log = make_log(
        world.org,
        world.session,
        type="entry",
        data={"player": str(world.player.id), "action": "goal"},
    )
    Clip.update(log_id=goal_log.id).where(Clip.id == b.id).execute()
    Clip.update(tags=["Goal", "set piece"]).where(Clip.id == c.id).execute()

    by_hand = client.post(
        playlists, headers=coach, json={"title": "Mine", "clip_ids": [str(c.id), str(a.id)]}
    )
    assert by_hand.status_code == 201, by_hand.text
    assert [i["clip"]["id"] for i in by_hand.json()["items"]] == [str(c.id), str(a.id)]
    assert by_hand.json()["items"][0]["clip"]["playback_url"]

    by_tag = client.post(
        playlists, headers=coach, json={"title": "Goals", "fill": {"tag": "goal"}}
    ).json()
    assert [i["clip"]["id"] for i in by_tag["items"]] == [str(b.id), str(c.id)]  # time order
    assert by_tag["source"] == {"tag": "goal"}
    by_player = client.post(
        playlists,
        headers=coach,
        json={"title": "Alex", "fill": {"player_id": str(world.player.id)}},
    ).json()
    assert [i["clip"]["id"] for i in by_player["items"]] == [str(b.id)]

    foreign = client.post(
        playlists, headers=coach, json={"title": "X", "clip_ids": [str(a.id), str(other.clip.id)]}
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["fields"][0]["path"] == "body.clip_ids[1]"
    stranger = client.post(
        playlists,
        headers=coach,
        json={"title": "X", "fill": {"player_id": str(other.player.id)}},
    )
    assert stranger.status_code == 404
    assert stranger.json()["error"]["fields"][0]["path"] == "body.fill.player_id"
    empty = client.post(playlists, headers=coach, json={"title": "X", "fill": {}})
    assert empty.status_code == 422 and empty.json()["error"]["fields"][0]["path"] == "body.fill"

    url = f"{playlists}/{by_hand.json()['id']}"
    added = client.post(
        f"{url}/items", headers=coach, json={"clip_ids": [str(b.id), str(a.id)], "position": 1}
    ).json()
    assert [i["clip"]["id"] for i in added["items"]] == [str(c.id), str(b.id), str(a.id)]
    items = [i["id"] for i in added["items"]]
    reordered = client.put(
        f"{url}/order", headers=coach, json={"item_ids": [items[2], items[0], items[1]]}
    ).json()
    assert [i["clip"]["id"] for i in reordered["items"]] == [str(a.id), str(c.id), str(b.id)]
    bad = client.put(f"{url}/order", headers=coach, json={"item_ids": items[:2]})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["path"] == "body.item_ids"
    assert client.delete(f"{url}/items/{items[0]}", headers=coach).status_code == 204
    client.delete(f"{_org(world)}/sessions/{world.session.id}/clips/{a.id}", headers=coach)
    shown = client.get(url, headers=auth(world.tokens[Role.MEMBER])).json()
    assert [i["clip"]["id"] for i in shown["items"]] == [str(b.id)]  # removed, and a deleted clip
    assert [i["position"] for i in shown["items"]] == [0]
    listed = client.get(playlists, headers=coach).json()["data"]
    assert {p["title"]: p["item_count"] for p in listed}["Mine"] == 1


def test_a_share_link_shows_its_clip_to_anyone_with_it_and_nothing_else(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    links = f"{_org(world)}/share-links"
    shared, kept = _clips(world, 2)
    Clip.update(title="Top corner").where(Clip.id == shared.id).execute()
    made = client.post(links, headers=coach, json={"clip_id": str(shared.id)})
    assert made.status_code == 201, made.text
    link = made.json()
    token = _token(link["url"])
    assert link["expires_at"] and link["kind"] == "clip"

    view = client.get(f"/api/v1/share/{token}")  # no account, no API token
    assert view.status_code == 200, view.text
    assert view.headers["referrer-policy"] == "no-referrer"
    assert view.headers["cache-control"] == "no-store"
    body = view.json()
    assert body["title"] == "Top corner" and [i["id"] for i in body["items"]] == [str(shared.id)]
    assert body["items"][0]["playback_url"]
    # Nothing of the organisation: no session, device, log, member or other clip. (The
    # video's own signed address names its object's key, which holds the organisation's
    # slug and the box's id; it opens that one object and nothing else.)
    fields = {key for item in body["items"] for key in item} | set(body)
    assert fields == {
        "kind", "title", "expires_at", "items", "id", "tags", "started_at", "duration_ms",
        "width", "height", "playback_url", "thumbnail_url", "urls_expire_at",
    }  # fmt: skip
    readable = [{k: v for k, v in item.items() if not k.endswith("_url")} for item in body["items"]]
    for secret in (world.slug, str(world.session.id), world.device_id, str(world.log.id)):
        assert secret not in str(readable) and secret not in body["title"]
    assert client.get(f"/api/v1/share/{token}/clips/{shared.id}").status_code == 200
    assert client.get(f"/api/v1/share/{token}/clips/{kept.id}").status_code == 404

    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, token + "x", "not-a-token-at-all", token.split(".")[0] + ".x"):
        answer = client.get(f"/api/v1/share/{bad}")
        assert answer.status_code in (404, 422), bad
    assert "not valid" in client.get(f"/api/v1/share/{tampered}").json()["error"]["message"]

    # A token whose expiry passed (signed by the same key) says so.
    row = ShareLink.get_by_id(link["id"])
    signer = ShareSigner(db)
    stale = signer.token(row.id, utc_now() - timedelta(minutes=1))
    expired = client.get(f"/api/v1/share/{stale}")
    assert expired.status_code == 404 and "expired" in expired.json()["error"]["message"]

    page = client.get(link["url"])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/share-assets/share.js").status_code == 200
    assert client.get("/share-assets/other.js").status_code == 422

    # Withdrawn: it stops at once, and says so.
    revoked = client.delete(f"{links}/{link['id']}", headers=coach)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    gone = client.get(f"/api/v1/share/{token}")
    assert gone.status_code == 404 and "withdrawn" in gone.json()["error"]["message"]
    listed = client.get(links, headers=coach).json()["data"]
    assert [entry["opened_count"] for entry in listed if entry["id"] == link["id"]] == [1]
    assert all(entry["url"] is None for entry in listed)  # the token is shown only once

    too_long = client.post(
        links, headers=coach, json={"clip_id": str(kept.id), "expires_in_days": 400}
    )
    assert too_long.status_code == 422
    assert too_long.json()["error"]["fields"][0]["path"] == "body.expires_in_days"
    both = client.post(
        links,
        headers=coach,
        json={"clip_id": str(kept.id), "playlist_id": str(world.playlist.id)},
    )
    assert both.status_code == 422


def test_a_playlist_link_lists_its_clips_in_order_and_follows_the_playlist(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    first, second = _clips(world, 2)
    playlist = client.post(
        f"{_org(world)}/playlists",
        headers=coach,
        json={"title": "For Alex", "clip_ids": [str(second.id), str(first.id)]},
    ).json()
    link = client.post(
        f"{_org(world)}/share-links",
        headers=coach,
        json={"playlist_id": playlist["id"], "title": "Watch before Saturday"},
    ).json()
    token = _token(link["url"])
    body = client.get(f"/api/v1/share/{token}").json()
    assert body["title"] == "Watch before Saturday" and body["kind"] == "playlist"
    assert [i["id"] for i in body["items"]] == [str(second.id), str(first.id)]
    assert client.get(f"/api/v1/share/{token}/clips/{world.clip.id}").status_code == 404
    client.delete(f"{_org(world)}/playlists/{playlist['id']}", headers=coach)
    gone = client.get(f"/api/v1/share/{token}")
    assert gone.status_code == 404 and "deleted" in gone.json()["error"]["message"]
