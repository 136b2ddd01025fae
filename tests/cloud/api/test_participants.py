"""Registrations, capacity (also under concurrency, through a real server) and attendance."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.services.accounts import add_membership, find_or_create_user, issue_token
from cloud.models import Role, Session, SessionParticipant, SessionStatus, utc_now
from tests.cloud.api.world import World, auth, build_world


def _participants(world: World, session: Session | None = None) -> str:
    return f"/api/v1/orgs/{world.slug}/sessions/{(session or world.session).id}/participants"


def _open_session(world: World, places: int) -> Session:
    return Session.create(
        org=world.org,
        title="Yoga",
        type="live_class",
        status=SessionStatus.SCHEDULED,
        max_participants=places,
    )


def test_join_cancel_and_join_again(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    session = _open_session(world, 1)
    member = auth(world.tokens[Role.MEMBER])
    joined = client.post(_participants(world, session), headers=member)
    assert joined.status_code == 201 and joined.json()["user_id"] == str(
        world.user_ids[Role.MEMBER]
    )
    twice = client.post(_participants(world, session), headers=member)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_registered"
    full = client.post(_participants(world, session), headers=auth(world.tokens[Role.COACH]))
    assert full.status_code == 409 and full.json()["error"]["code"] == "session_full"
    assert Session.get_by_id(session.id).participant_count == 1
    cancelled = client.delete(
        f"{_participants(world, session)}/{joined.json()['id']}", headers=member
    )
    assert cancelled.json()["status"] == "cancelled"
    assert Session.get_by_id(session.id).participant_count == 0
    again = client.post(_participants(world, session), headers=member)
    assert again.status_code == 201 and again.json()["id"] == joined.json()["id"]
    assert Session.get_by_id(session.id).participant_count == 1


def test_registration_is_open_only_while_scheduled_or_live(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    closed = client.post(_participants(world, world.draft), headers=auth(world.tokens[Role.MEMBER]))
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "registration_closed"


def test_coaches_register_others_members_see_only_their_own(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    coach, member = auth(world.tokens[Role.COACH]), auth(world.tokens[Role.MEMBER])
    guest = client.post(
        _participants(world),
        headers=coach,
        json={"guest_name": "Pat", "guest_email": "Pat@Example.com"},
    )
    assert guest.status_code == 201 and guest.json()["guest_email"] == "pat@example.com"
    by_member = client.post(_participants(world), headers=member, json={"guest_name": "Sneaky"})
    assert by_member.status_code == 403
    client.post(_participants(world), headers=member)
    assert client.get(_participants(world), headers=coach).json()["count"] == 3
    own = client.get(_participants(world), headers=member).json()
    assert [p["user_id"] for p in own["data"]] == [str(world.user_ids[Role.MEMBER])]
    someone_else = client.delete(f"{_participants(world)}/{guest.json()['id']}", headers=member)
    assert someone_else.status_code == 404


def test_attendance_and_its_report(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    joined = utc_now() - timedelta(minutes=50)
    marked = client.patch(
        f"{_participants(world)}/{world.participant.id}",
        headers=coach,
        json={
            "attendance": "late",
            "joined_at": joined.isoformat(),
            "left_at": (joined + timedelta(minutes=45)).isoformat(),
        },
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["duration_seconds"] == 45 * 60
    backwards = client.patch(
        f"{_participants(world)}/{world.participant.id}",
        headers=coach,
        json={"left_at": (joined - timedelta(minutes=1)).isoformat()},
    )
    assert (
        backwards.status_code == 422
        and backwards.json()["error"]["fields"][0]["path"] == "body.left_at"
    )
    client.post(_participants(world), headers=coach, json={"guest_name": "Pat"})
    report = client.get(
        f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/attendance", headers=coach
    ).json()
    assert (report["total_expected"], report["total_late"], report["total_unmarked"]) == (2, 1, 1)
    not_started = _open_session(world, 5)
    row = SessionParticipant.create(session=not_started, guest_name="Early")
    early = client.patch(
        f"{_participants(world, not_started)}/{row.id}",
        headers=coach,
        json={"attendance": "present"},
    )
    assert early.status_code == 409


def test_n_plus_5_simultaneous_joins_of_n_places_give_exactly_n(db: Database, server: str) -> None:
    places = 10
    world = build_world(db, "alpha")
    session = _open_session(world, places)
    tokens = []
    for number in range(places + 5):
        user = find_or_create_user(db, email=f"fan{number}@alpha.example", name=f"Fan {number}")
        add_membership(db, org=world.org, user=user, role=Role.MEMBER)
        tokens.append(issue_token(db, org=world.org, user=user, name="t")[1].secret)
    barrier = threading.Barrier(len(tokens))
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def join(token: str) -> None:
        with httpx.Client(base_url=server, timeout=60) as http:
            http.get("/api/v1/health")  # connect before the barrier
            barrier.wait()
            response = http.post(_participants(world, session), headers=auth(token))
        code = (
            response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""
        )
        with lock:
            outcomes.append((response.status_code, code))

    threads = [threading.Thread(target=join, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert Counter(outcomes) == Counter({(201, ""): places, (409, "session_full"): 5})
    assert Session.get_by_id(session.id).participant_count == places
    registered = SessionParticipant.select().where(SessionParticipant.session == session.id).count()
    assert registered == places


def test_a_guest_email_holds_one_seat(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    session = _open_session(world, 5)
    url = _participants(world, session)
    first = client.post(url, headers=coach, json={"guest_name": "Pat", "guest_email": "pat@x.org"})
    assert first.status_code == 201
    again = client.post(url, headers=coach, json={"guest_name": "Pat", "guest_email": "PAT@x.org"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_registered"
    assert "pat@x.org" in again.json()["error"]["message"]
    assert Session.get_by_id(session.id).participant_count == 1
    # After cancelling, the same email registers again on its old row.
    assert client.delete(f"{url}/{first.json()['id']}", headers=coach).status_code == 200
    back = client.post(
        url, headers=coach, json={"guest_name": "Pat M.", "guest_email": "pat@x.org"}
    )
    assert back.status_code == 201, back.text
    assert back.json()["id"] == first.json()["id"] and back.json()["guest_name"] == "Pat M."
    # Guests without an email cannot be recognised: each is a new registration.
    for _ in range(2):
        assert client.post(url, headers=coach, json={"guest_name": "Sam"}).status_code == 201
    assert Session.get_by_id(session.id).participant_count == 3


def test_simultaneous_registrations_of_one_guest_email_take_one_seat(
    db: Database, server: str
) -> None:
    world = build_world(db, "alpha")
    session = _open_session(world, 10)
    token = world.tokens[Role.COACH]
    attempts = 8
    barrier = threading.Barrier(attempts)
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def register() -> None:
        with httpx.Client(base_url=server, timeout=60) as http:
            http.get("/api/v1/health")  # connect before the barrier
            barrier.wait()
            response = http.post(
                _participants(world, session),
                headers=auth(token),
                json={"guest_name": "Pat", "guest_email": "pat@x.org"},
            )
        code = (
            response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""
        )
        with lock:
            outcomes.append((response.status_code, code))

    threads = [threading.Thread(target=register) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert Counter(outcomes) == Counter({(201, ""): 1, (409, "already_registered"): attempts - 1})
    assert Session.get_by_id(session.id).participant_count == 1
    rows = SessionParticipant.select().where(SessionParticipant.session == session.id)
    assert [row.guest_email for row in rows] == ["pat@x.org"]
