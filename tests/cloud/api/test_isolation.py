"""Organisation isolation and roles for every route, driven by the OpenAPI document.

Each operation the app serves must have a row in ``ROUTES`` (so a new route
fails here until someone states its role and checks its scoping). For every
operation: no token -> 401; organisation B's slug or B's ids with A's owner
token -> 404, never B's data; the role just below the required one -> 403;
the required role -> let through. B's rows are unchanged at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.models import (
    ROLE_RANK,
    ApiToken,
    Booking,
    Clip,
    FormTemplate,
    Log,
    MeetingSlot,
    Membership,
    Playlist,
    PlaylistItem,
    Role,
    Session,
    SessionParticipant,
    SessionSeries,
    ShareLink,
    Team,
    TeamMember,
    WebhookSubscription,
    utc_now,
)
from tests.cloud.api.world import World, auth, build_world

Body = Callable[[World], Any]


@dataclass(frozen=True)
class Case:
    role: Role | None  # the least role that may call it (None: any authenticated caller)
    body: Body | None = None  # a valid body, built from the world whose ids it names


def _session(world: World) -> dict[str, Any]:
    return {
        "title": "Isolation",
        "team_id": str(world.team.id),
        "form_template_id": str(world.form.id),
    }


def _form(world: World) -> dict[str, Any]:
    return {
        "name": "F",
        "team_id": str(world.team.id),
        "fields": [{"key": "a", "label": "A", "type": "text"}],
    }


def _series(world: World) -> dict[str, Any]:
    return {
        "title": "Isolation series",
        "team_id": str(world.team.id),
        "start": f"{utc_now().year + 2}-01-05T10:00",
        "timezone": "Asia/Kolkata",
        "duration_minutes": 45,
        "rule": {"freq": "weekly", "count": 2},
    }


def _booking(world: World, *, hour: int = 11, move: bool = False) -> dict[str, Any]:
    assert world.booking is not None and world.slot is not None
    start = world.booking.starts_at.replace(hour=hour)
    body: dict[str, Any] = {"start": start.isoformat()}
    if not move:
        body["slot_id"] = str(world.slot.id)
    return body


S = "/api/v1/orgs/{org}/sessions/{session_id}"
H = "/api/v1/orgs/{org}/hosts/{host_id}"
B = "/api/v1/orgs/{org}/bookings/{booking_id}"
W = "/api/v1/orgs/{org}/webhooks/{webhook_id}"
ROUTES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/me"): Case(None),
    ("POST", "/api/v1/orgs"): Case(None, lambda w: {"slug": f"{w.slug}-new", "name": "New"}),
    ("GET", "/api/v1/orgs/{org}"): Case(Role.GUEST),
    ("PATCH", "/api/v1/orgs/{org}"): Case(Role.ADMIN, lambda w: {"name": "Renamed"}),
    ("GET", "/api/v1/orgs/{org}/members"): Case(Role.MEMBER),
    ("POST", "/api/v1/orgs/{org}/members"): Case(
        Role.ADMIN, lambda w: {"email": f"new@{w.slug}.example", "name": "New", "role": "member"}
    ),
    ("PATCH", "/api/v1/orgs/{org}/members/{membership_id}"): Case(
        Role.ADMIN, lambda w: {"role": "guest"}
    ),
    ("DELETE", "/api/v1/orgs/{org}/members/{membership_id}"): Case(Role.ADMIN),
    ("GET", "/api/v1/orgs/{org}/tokens"): Case(Role.GUEST),
    ("POST", "/api/v1/orgs/{org}/tokens"): Case(Role.GUEST, lambda w: {"name": "phone"}),
    ("DELETE", "/api/v1/orgs/{org}/tokens/{token_id}"): Case(Role.GUEST),
    ("GET", "/api/v1/orgs/{org}/teams"): Case(Role.MEMBER),
    ("POST", "/api/v1/orgs/{org}/teams"): Case(Role.ADMIN, lambda w: {"name": "Second team"}),
    ("GET", "/api/v1/orgs/{org}/teams/{team_id}"): Case(Role.MEMBER),
    ("PATCH", "/api/v1/orgs/{org}/teams/{team_id}"): Case(
        Role.ADMIN, lambda w: {"name": "Renamed team"}
    ),
    ("DELETE", "/api/v1/orgs/{org}/teams/{team_id}"): Case(Role.ADMIN),
    ("GET", "/api/v1/orgs/{org}/teams/{team_id}/roster"): Case(Role.MEMBER),
    ("POST", "/api/v1/orgs/{org}/teams/{team_id}/roster"): Case(
        Role.COACH, lambda w: {"display_name": "Sam"}
    ),
    ("PATCH", "/api/v1/orgs/{org}/teams/{team_id}/roster/{member_id}"): Case(
        Role.COACH, lambda w: {"number": "9"}
    ),
    ("GET", "/api/v1/orgs/{org}/forms"): Case(Role.MEMBER),
    ("POST", "/api/v1/orgs/{org}/forms"): Case(Role.COACH, _form),
    ("GET", "/api/v1/orgs/{org}/forms/{form_id}"): Case(Role.MEMBER),
    ("PATCH", "/api/v1/orgs/{org}/forms/{form_id}"): Case(
        Role.COACH, lambda w: {"name": "Renamed form"}
    ),
    ("DELETE", "/api/v1/orgs/{org}/forms/{form_id}"): Case(Role.COACH),
    ("GET", "/api/v1/orgs/{org}/forms/{form_id}/versions"): Case(Role.MEMBER),
    ("GET", "/api/v1/orgs/{org}/forms/{form_id}/versions/{version}"): Case(Role.MEMBER),
    ("GET", "/api/v1/orgs/{org}/sessions"): Case(Role.GUEST),
    ("POST", "/api/v1/orgs/{org}/sessions"): Case(Role.COACH, _session),
    ("GET", S): Case(Role.GUEST),
    ("PATCH", S): Case(Role.COACH, lambda w: {"title": "Renamed session"}),
    ("DELETE", S): Case(Role.COACH),
    ("POST", S + "/schedule"): Case(Role.COACH),
    ("POST", S + "/start"): Case(Role.COACH),
    ("POST", S + "/end"): Case(Role.COACH),
    ("POST", S + "/cancel"): Case(Role.COACH, lambda w: {"reason": "rain"}),
    ("GET", S + "/participants"): Case(Role.GUEST),
    ("POST", S + "/participants"): Case(Role.GUEST, lambda w: {}),
    ("DELETE", S + "/participants/{participant_id}"): Case(Role.GUEST),
    ("PATCH", S + "/participants/{participant_id}"): Case(
        Role.COACH, lambda w: {"attendance": "present"}
    ),
    ("GET", S + "/attendance"): Case(Role.COACH),
    ("POST", S + "/participants/{participant_id}/join"): Case(Role.COACH, lambda w: {}),
    ("POST", S + "/participants/{participant_id}/leave"): Case(Role.COACH, lambda w: {}),
    ("POST", S + "/participants/{participant_id}/intervals"): Case(
        Role.COACH, lambda w: {"joined_at": utc_now().isoformat()}
    ),
    ("GET", "/api/v1/orgs/{org}/attendance"): Case(Role.GUEST),
    ("GET", "/api/v1/orgs/{org}/stats"): Case(Role.COACH),
    ("GET", S + "/logs"): Case(Role.MEMBER),
    ("POST", S + "/logs"): Case(
        Role.COACH, lambda w: {"data": {"player": str(w.player.id), "action": "pass"}}
    ),
    ("GET", S + "/logs/{log_id}"): Case(Role.MEMBER),
    ("PATCH", S + "/logs/{log_id}"): Case(Role.COACH, lambda w: {"type": "goal"}),
    ("DELETE", S + "/logs/{log_id}"): Case(Role.COACH),
    ("POST", S + "/logs/{log_id}/retrim"): Case(Role.COACH, lambda w: {"lead_s": 5, "lag_s": 2}),
    ("GET", S + "/clips"): Case(Role.MEMBER),
    ("POST", S + "/clips"): Case(Role.COACH, lambda w: {"note": "nice"}),
    ("GET", S + "/clips/{clip_id}"): Case(Role.MEMBER),
    ("PATCH", S + "/clips/{clip_id}"): Case(
        Role.COACH, lambda w: {"title": "Goal", "tags": ["goal"]}
    ),
    ("DELETE", S + "/clips/{clip_id}"): Case(Role.COACH),
    ("POST", S + "/clips/range"): Case(Role.COACH, lambda w: {"last_s": 30}),
    ("POST", S + "/clips/{clip_id}/retrim"): Case(Role.COACH, lambda w: {"lead_s": 5, "lag_s": 2}),
    ("GET", S + "/commands"): Case(Role.MEMBER),
    ("GET", "/api/v1/orgs/{org}/commands/{command_id}"): Case(Role.MEMBER),
    ("GET", S + "/timeline"): Case(Role.MEMBER),
    ("GET", S + "/timeline/export"): Case(Role.MEMBER),
    ("POST", S + "/timeline/embed"): Case(Role.COACH),
    ("GET", "/api/v1/orgs/{org}/series"): Case(Role.MEMBER),
    ("POST", "/api/v1/orgs/{org}/series"): Case(Role.COACH, lambda w: _series(w)),
    ("GET", "/api/v1/orgs/{org}/series/{series_id}"): Case(Role.MEMBER),
    ("PATCH", "/api/v1/orgs/{org}/series/{series_id}"): Case(
        Role.COACH, lambda w: {"title": "Renamed series", "team_id": str(w.team.id)}
    ),
    ("POST", "/api/v1/orgs/{org}/series/{series_id}/cancel"): Case(Role.COACH, lambda w: {}),
    ("GET", "/api/v1/orgs/{org}/series/{series_id}/occurrences"): Case(Role.GUEST),
    ("GET", "/api/v1/orgs/{org}/meeting-slots"): Case(Role.GUEST),
    ("POST", "/api/v1/orgs/{org}/meeting-slots"): Case(
        Role.COACH,
        lambda w: {
            "day_of_week": 1,
            "start_time": "18:00",
            "end_time": "20:00",
            "duration_minutes": 30,
            "timezone": "Europe/Paris",
        },
    ),
    ("GET", "/api/v1/orgs/{org}/meeting-slots/{slot_id}"): Case(Role.GUEST),
    ("PATCH", "/api/v1/orgs/{org}/meeting-slots/{slot_id}"): Case(
        Role.COACH, lambda w: {"title": "Renamed slot"}
    ),
    ("DELETE", "/api/v1/orgs/{org}/meeting-slots/{slot_id}"): Case(Role.COACH),
    ("GET", "/api/v1/orgs/{org}/availability-overrides"): Case(Role.GUEST),
    ("POST", "/api/v1/orgs/{org}/availability-overrides"): Case(
        Role.COACH,
        lambda w: {"date": f"{utc_now().year + 1}-01-01", "kind": "blackout", "timezone": "UTC"},
    ),
    ("DELETE", "/api/v1/orgs/{org}/availability-overrides/{override_id}"): Case(Role.COACH),
    ("GET", H + "/booking-settings"): Case(Role.GUEST),
    ("PUT", H + "/booking-settings"): Case(Role.COACH, lambda w: {"max_per_day": 8}),
    ("GET", H + "/bookable-times"): Case(Role.GUEST),
    ("GET", "/api/v1/orgs/{org}/bookings"): Case(Role.GUEST),
    ("POST", "/api/v1/orgs/{org}/bookings"): Case(Role.GUEST, lambda w: _booking(w)),
    ("GET", B): Case(Role.GUEST),
    ("POST", B + "/cancel"): Case(Role.GUEST, lambda w: {"reason": "isolation"}),
    ("POST", B + "/reschedule"): Case(Role.GUEST, lambda w: _booking(w, hour=14, move=True)),
    ("POST", B + "/complete"): Case(Role.COACH),
    ("POST", B + "/no-show"): Case(Role.COACH),
    ("GET", "/api/v1/orgs/{org}/webhooks"): Case(Role.ADMIN),
    ("POST", "/api/v1/orgs/{org}/webhooks"): Case(
        Role.ADMIN,
        lambda w: {"url": "http://127.0.0.1:9/hooks", "event_types": ["booking.created"]},
    ),
    ("GET", W): Case(Role.ADMIN),
    ("PATCH", W): Case(Role.ADMIN, lambda w: {"description": "renamed"}),
    ("DELETE", W): Case(Role.ADMIN),
    ("POST", W + "/rotate-secret"): Case(Role.ADMIN),
    ("POST", W + "/ping"): Case(Role.ADMIN),
    ("GET", W + "/deliveries"): Case(Role.ADMIN),
    ("GET", W + "/deliveries/{delivery_id}"): Case(Role.ADMIN),
    ("POST", W + "/deliveries/{delivery_id}/replay"): Case(Role.ADMIN),
    ("GET", "/api/v1/orgs/{org}/calendar-feeds"): Case(Role.COACH),
    ("POST", "/api/v1/orgs/{org}/calendar-feeds"): Case(
        Role.COACH, lambda w: {"team_id": str(w.team.id)}
    ),
    ("DELETE", "/api/v1/orgs/{org}/calendar-feeds/{feed_id}"): Case(Role.COACH),
    ("GET", "/api/v1/orgs/{org}/playlists"): Case(Role.MEMBER),
    ("POST", "/api/v1/orgs/{org}/playlists"): Case(
        Role.COACH, lambda w: {"title": "Goals", "clip_ids": [str(w.clip.id)]}
    ),
    ("GET", "/api/v1/orgs/{org}/playlists/{playlist_id}"): Case(Role.MEMBER),
    ("PATCH", "/api/v1/orgs/{org}/playlists/{playlist_id}"): Case(
        Role.COACH, lambda w: {"title": "Renamed playlist"}
    ),
    ("DELETE", "/api/v1/orgs/{org}/playlists/{playlist_id}"): Case(Role.COACH),
    ("POST", "/api/v1/orgs/{org}/playlists/{playlist_id}/items"): Case(
        Role.COACH, lambda w: {"clip_ids": [str(w.clip.id)]}
    ),
    ("PUT", "/api/v1/orgs/{org}/playlists/{playlist_id}/order"): Case(
        Role.COACH, lambda w: {"item_ids": [str(w.playlist_item.id)]}
    ),
    ("DELETE", "/api/v1/orgs/{org}/playlists/{playlist_id}/items/{item_id}"): Case(Role.COACH),
    ("GET", "/api/v1/orgs/{org}/share-links"): Case(Role.COACH),
    ("POST", "/api/v1/orgs/{org}/share-links"): Case(
        Role.COACH, lambda w: {"playlist_id": str(w.playlist.id)}
    ),
    ("DELETE", "/api/v1/orgs/{org}/share-links/{link_id}"): Case(Role.COACH),
}
PUBLIC = {
    ("GET", "/api/v1/health"),
    # Probes for load balancers and orchestrators (tests/cloud/operations/test_health.py).
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    # A guest's signed link (tests/cloud/api/test_bookings.py): no token, no organisation.
    ("GET", "/api/v1/guest/bookings/{token}"),
    ("POST", "/api/v1/guest/bookings/{token}/cancel"),
    ("GET", "/api/v1/guest/bookings/{token}/times"),
    ("POST", "/api/v1/guest/bookings/{token}/reschedule"),
    # A calendar feed's secret URL (tests/cloud/api/test_calendar_feeds.py).
    ("GET", "/api/v1/calendar/{token}.ics"),
    # A share link's token is the credential (tests/cloud/api/test_sharing.py).
    ("GET", "/api/v1/share/{token}"),
    ("GET", "/api/v1/share/{token}/clips/{clip_id}"),
}


def _operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = client.get("/openapi.json").json()
    return [
        (method.upper(), path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def _path(template: str, world: World, org: str | None = None, leaf: World | None = None) -> str:
    """``template`` filled with ``world``'s ids (the last one from ``leaf`` if given)."""
    values = _values(world)
    if org is not None:
        values["org"] = org
    if leaf is not None:
        last = template.rsplit("{", 1)[1].split("}", 1)[0]
        values[last] = _values(leaf)[last]
    return template.format(**values)


def _values(world: World) -> dict[str, str]:
    values = {
        "org": world.slug,
        "membership_id": world.membership_ids[Role.GUEST],
        "token_id": world.token_ids[Role.GUEST],
        "team_id": world.team.id,
        "member_id": world.player.id,
        "form_id": world.form.id,
        "version": 1,
        "session_id": world.session.id,
        "participant_id": world.participant.id,
        "log_id": world.log.id,
        "clip_id": world.clip.id,
        "command_id": world.command.id,
        "series_id": world.series.id if world.series else "",
        "slot_id": world.slot.id if world.slot else "",
        "override_id": world.override.id if world.override else "",
        "booking_id": world.booking.id if world.booking else "",
        "webhook_id": world.webhook.id if world.webhook else "",
        "delivery_id": world.delivery.id if world.delivery else "",
        "feed_id": world.feed.id if world.feed else "",
        "host_id": world.user_ids[Role.COACH],
        "playlist_id": world.playlist.id,
        "item_id": world.playlist_item.id,
        "link_id": world.share_link.id,
    }
    return {key: str(value) for key, value in values.items()}


def _below(role: Role) -> Role | None:
    lower = [r for r in Role if ROLE_RANK[r] < ROLE_RANK[role]]
    return max(lower, key=lambda r: ROLE_RANK[r]) if lower else None


def _snapshot(world: World) -> dict[str, object]:
    """What org B has, to check nothing of it changed."""
    org = world.org.id
    return {
        "sessions": sorted(
            (str(s.id), s.title, str(s.status), s.deleted_at, s.participant_count)
            for s in Session.select().where(Session.org == org)
        ),
        "members": sorted(
            (str(m.id), str(m.role)) for m in Membership.select().where(Membership.org == org)
        ),
        "tokens": sorted(
            (str(t.id), t.revoked_at) for t in ApiToken.select().where(ApiToken.org == org)
        ),
        "teams": sorted(
            (str(t.id), t.name, t.archived_at) for t in Team.select().where(Team.org == org)
        ),
        "roster": sorted(
            (str(m.id), m.number)
            for m in TeamMember.select().where(TeamMember.team == world.team.id)
        ),
        "forms": sorted(
            (str(f.id), f.name, f.current_version, f.archived_at)
            for f in FormTemplate.select().where(FormTemplate.org == org)
        ),
        "logs": sorted(
            (str(x.id), x.type, x.deleted_at) for x in Log.select().where(Log.org == org)
        ),
        "clips": sorted(
            (str(c.id), c.title, c.deleted_at) for c in Clip.select().where(Clip.org == org)
        ),
        "series": sorted(
            (str(x.id), x.title, x.rrule, x.cancelled_at)
            for x in SessionSeries.select().where(SessionSeries.org == org)
        ),
        "slots": sorted(
            (str(x.id), x.title, x.deleted_at)
            for x in MeetingSlot.select().where(MeetingSlot.org == org)
        ),
        "webhooks": sorted(
            (str(x.id), x.url, x.description, x.secret, x.deleted_at)
            for x in WebhookSubscription.select().where(WebhookSubscription.org == org)
        ),
        "bookings": sorted(
            (str(x.id), str(x.status)) for x in Booking.select().where(Booking.org == org)
        ),
        "playlists": sorted(
            (
                str(p.id),
                p.title,
                p.deleted_at,
                PlaylistItem.select().where(PlaylistItem.playlist == p.id).count(),
            )
            for p in Playlist.select().where(Playlist.org == org)
        ),
        "share_links": sorted(
            (str(link.id), link.revoked_at)
            for link in ShareLink.select().where(ShareLink.org == org)
        ),
        "participants": sorted(
            (str(p.id), str(p.status), p.attendance)
            for p in SessionParticipant.select().where(
                SessionParticipant.session == world.session.id
            )
        ),
    }


def _destructive_last(item: tuple[tuple[str, str], Case]) -> int:
    """Deletes last, children before parents (so earlier calls still find A's things);
    the guest's token and membership very last (the guest token is used until then)."""
    (method, path), _ = item
    if method != "DELETE":
        return 0
    for rank, leaf in enumerate(("{token_id}", "{membership_id}"), start=3):
        if path.endswith(leaf):
            return rank
    children = ("{participant_id}", "{log_id}", "{clip_id}", "{item_id}", "{link_id}")
    return 1 if path.endswith(children) else 2


def _call(client: TestClient, method: str, url: str, token: str | None, body: Any) -> Any:
    headers = auth(token) if token else {}
    return client.request(method, url, headers=headers, json=body)


def test_every_route_is_in_the_table_with_the_role_the_openapi_states(client: TestClient) -> None:
    served = {(method, path) for method, path, _ in _operations(client)} - PUBLIC
    assert served - set(ROUTES) == set(), "new routes: add them to ROUTES with their role"
    assert set(ROUTES) - served == set(), "ROUTES names routes the app does not serve"
    for method, path, operation in _operations(client):
        if (method, path) in PUBLIC:
            continue
        case = ROUTES[(method, path)]
        assert operation.get("x-min-role") == (case.role.value if case.role else None), (
            method,
            path,
        )
        for status in ("401", "422") if method != "GET" or "{" in path else ("401",):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
        if "{org}" in path:
            assert "404" in operation["responses"], (method, path)


def test_every_route_scopes_to_the_callers_organisation_and_enforces_roles(
    db: Database, client: TestClient
) -> None:
    a, b = build_world(db, "alpha", scheduling=True), build_world(db, "bravo", scheduling=True)
    before = _snapshot(b)
    foreign = b.ids() - {b.slug}
    owner_a = a.tokens[Role.OWNER]
    order = sorted(ROUTES.items(), key=_destructive_last)
    for (method, template), case in order:
        body = case.body(a) if case.body else None
        where = f"{method} {template}"

        missing = _call(client, method, _path(template, a), None, body)
        assert missing.status_code == 401, where
        assert missing.json()["error"]["code"] == "unauthorized", where

        if "{org}" in template:
            other_org = _call(
                client, method, _path(template, b), owner_a, case.body(b) if case.body else None
            )
            assert other_org.status_code == 404, (where, other_org.text)
            if template.count("{") > 1:
                # A's own slug, B's ids: still nothing.
                mixed = _call(client, method, _path(template, b, org=a.slug), owner_a, body)
                assert mixed.status_code == 404, (where, mixed.text)
                assert mixed.json()["error"]["code"] == "not_found", where
                # All of A's path but the last id, which is B's.
                leaf_url = _path(template, a, leaf=b)
                if leaf_url != _path(template, a):  # (a version number is no id)
                    leaf = _call(client, method, leaf_url, owner_a, body)
                    assert leaf.status_code == 404, (where, leaf.text)
            if case.body and "team_id" in (case.body(b) or {}):
                # A's path, but the body names B's team: not found either.
                cross = _call(client, method, _path(template, a), owner_a, case.body(b))
                assert cross.status_code == 404, (where, cross.text)

        if case.role is not None and (lower := _below(case.role)) is not None:
            refused = _call(client, method, _path(template, a), a.tokens[lower], body)
            assert refused.status_code == 403, (where, lower, refused.text)
            assert refused.json()["error"]["code"] == "forbidden", where

        allowed_role = case.role or Role.GUEST
        allowed = _call(client, method, _path(template, a), a.tokens[allowed_role], body)
        # Let through: done, or refused for the resource's state (409: e.g. deleting a
        # live session; 503: no embeddings sink here), never for the role or the input.
        assert allowed.status_code < 300 or allowed.status_code in (409, 503), (
            where,
            allowed_role,
            allowed.text,
        )
        assert not any(ident in allowed.text for ident in foreign), (where, "leaked B's data")
    assert _snapshot(b) == before


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer nope", "Basic dXNlcjpwdw==", "Bearer sl_" + "x" * 40]
)
def test_bad_credentials_are_401_in_the_error_shape(client: TestClient, header: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401, header
    body = response.json()
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"]
    assert response.headers["www-authenticate"] == "Bearer"
