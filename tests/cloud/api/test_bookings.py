"""Bookings on SQLite and PostgreSQL: never a double booking (same start, partial
overlap, against the host's sessions, under concurrency through a real uvicorn),
cancel frees the time, idempotency keys, lifecycle rules, reschedule once and in one
transaction, the guest's link, and bad input named by field."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.availability import BookingSettingsUpdate, SlotCreate
from cloud.api.schemas.bookings import BookingCreate
from cloud.api.services import availability as availability_service
from cloud.api.services import bookings as service
from cloud.api.services.accounts import add_membership, find_or_create_user, issue_token
from cloud.errors import Conflict, Forbidden, NotFound
from cloud.models import Booking, BookingStatus, HostBusy, MeetingSlot, Role, User
from tests.cloud.api.world import World, auth, build_world

SECRET = b"dev-secret-change-me"  # the test runtime's api.secret_key


def _next_weekday(weekday: int, *, weeks: int = 1) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks)


def _scope(world: World, role: Role) -> OrgScope:
    return OrgScope(org=world.org, user=User.get_by_id(world.user_ids[role]), role=role)


def _slot(world: World, db: Database, **fields: Any) -> MeetingSlot:
    values: dict[str, Any] = {
        "day_of_week": 2,
        "start_time": "09:00",
        "end_time": "17:00",
        "duration_minutes": 60,
        "timezone": "UTC",
        "price_minor": 2500,
        "currency": "EUR",
    }
    values.update(fields)
    return availability_service.create_slot(
        db, scope=_scope(world, Role.HOST), data=SlotCreate.model_validate(values)
    )


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def _url(world: World, rest: str = "") -> str:
    return f"/api/v1/orgs/{world.slug}/bookings{rest}"


def _book(
    client: TestClient, world: World, slot: MeetingSlot, start: datetime, **extra: Any
) -> Any:
    headers = auth(world.tokens[extra.pop("role", Role.MEMBER)])
    if "key" in extra:
        headers["Idempotency-Key"] = extra.pop("key")
    body = {"slot_id": str(slot.id), "start": start.isoformat(), **extra}
    return client.post(_url(world), headers=headers, json=body)


def test_book_refuse_the_same_and_an_overlapping_time_cancel_and_rebook(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    hourly = _slot(world, db)
    offset = _slot(world, db, start_time="09:30", end_time="17:30", duration_minutes=45)
    first = _book(client, world, hourly, _at(wednesday, 10))
    assert first.status_code == 201, first.text
    booked = first.json()
    assert (booked["status"], booked["price_minor"], booked["currency"]) == (
        "confirmed",
        2500,
        "EUR",
    )
    assert booked["guest_id"] == str(world.user_ids[Role.MEMBER])
    assert (booked["scheduled_date"], booked["start_time"], booked["end_time"]) == (
        wednesday.isoformat(), "10:00:00", "11:00:00",
    )  # fmt: skip
    same = _book(client, world, hourly, _at(wednesday, 10), role=Role.GUEST)
    assert same.status_code == 409 and same.json()["error"]["code"] == "time_taken"
    partial = _book(client, world, offset, _at(wednesday, 10, 15), role=Role.GUEST)  # 10:15-11:00
    assert partial.status_code == 409 and partial.json()["error"]["code"] == "time_taken"
    assert booked["id"] in same.json()["error"]["message"]
    cancelled = client.post(
        _url(world, f"/{booked['id']}/cancel"),
        headers=auth(world.tokens[Role.MEMBER]),
        json={"reason": "ill"},
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_by"] == str(world.user_ids[Role.MEMBER])
    again = _book(client, world, offset, _at(wednesday, 10, 15), role=Role.GUEST)
    assert again.status_code == 201, again.text
    assert HostBusy.select().where(HostBusy.host == world.user_ids[Role.HOST]).count() == 1


def test_the_hosts_sessions_are_not_bookable(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    slot = _slot(world, db)
    session = client.post(
        f"/api/v1/orgs/{world.slug}/sessions",
        headers=auth(world.tokens[Role.COACH]),
        json={
            "title": "Clinic",
            "host_id": str(world.user_ids[Role.HOST]),
            "scheduled_at": _at(wednesday, 13, 30).isoformat(),
            "duration_minutes": 60,
        },
    )
    assert session.status_code == 201, session.text
    for hour in (13, 14):
        refused = _book(client, world, slot, _at(wednesday, hour))
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "time_taken"
    times = client.get(
        f"/api/v1/orgs/{world.slug}/hosts/{world.user_ids[Role.HOST]}/bookable-times",
        headers=auth(world.tokens[Role.MEMBER]),
        params={"from": wednesday.isoformat(), "to": wednesday.isoformat()},
    ).json()
    hours = [datetime.fromisoformat(t["start"]).hour for t in times["data"]]
    assert hours == [9, 10, 11, 12, 15, 16]
    # And a session cannot be moved onto a booking either.
    booked = _book(client, world, slot, _at(wednesday, 9))
    assert booked.status_code == 201
    moved = client.patch(
        f"/api/v1/orgs/{world.slug}/sessions/{session.json()['id']}",
        headers=auth(world.tokens[Role.COACH]),
        json={"scheduled_at": _at(wednesday, 9, 30).isoformat()},
    )
    assert moved.status_code == 409 and moved.json()["error"]["code"] == "time_taken"


def test_idempotency_keys(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    slot = _slot(world, db)
    first = _book(client, world, slot, _at(wednesday, 9), key="k-1", notes="hi")
    retry = _book(client, world, slot, _at(wednesday, 9), key="k-1", notes="hi")
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert (
        retry.headers["idempotent-replayed"] == "true"
        and "idempotent-replayed" not in first.headers
    )
    other = _book(client, world, slot, _at(wednesday, 10), key="k-1", notes="hi")
    assert other.status_code == 422
    (field,) = other.json()["error"]["fields"]
    assert (field["path"], field["code"]) == ("header.Idempotency-Key", "idempotency_key_reused")
    # Another user's same key is theirs: a new booking, nothing of the first revealed.
    theirs = _book(client, world, slot, _at(wednesday, 11), key="k-1", role=Role.GUEST, notes="hi")
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert Booking.select().count() == 2


def test_completed_and_no_show_only_after_the_start(db: Database) -> None:
    world = build_world(db, "alpha")
    slot = _slot(world, db)
    start = _at(_next_weekday(2), 9)
    booking = service.create_booking(
        db, scope=_scope(world, Role.MEMBER), secret=SECRET,
        data=BookingCreate(slot_id=slot.id, start=start),
    ).booking  # fmt: skip
    host = _scope(world, Role.HOST)
    with pytest.raises(Conflict) as early:
        service.mark_booking(db, scope=host, booking=booking, status=BookingStatus.COMPLETED)
    assert early.value.code == "booking_not_started"
    with pytest.raises(Forbidden):
        service.mark_booking(
            db, scope=_scope(world, Role.MEMBER), booking=booking,
            status=BookingStatus.NO_SHOW, now=start + timedelta(minutes=5),
        )  # fmt: skip
    marked = service.mark_booking(
        db,
        scope=host,
        booking=booking,
        status=BookingStatus.NO_SHOW,
        now=start + timedelta(minutes=5),
    )
    assert marked.status == BookingStatus.NO_SHOW
    assert HostBusy.get_or_none(HostBusy.booking == booking.id) is not None  # the time was used
    with pytest.raises(Conflict) as over:
        service.cancel_booking(db, scope=host, booking=marked, now=start + timedelta(hours=2))
    assert over.value.code == "booking_over"


def test_reschedule_is_one_transaction_and_happens_once(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    slot = _slot(world, db)
    first = _book(client, world, slot, _at(wednesday, 9)).json()
    blocker = _book(client, world, slot, _at(wednesday, 11), role=Role.GUEST).json()
    member = auth(world.tokens[Role.MEMBER])
    # Onto a taken time: refused, and the original stays as it was.
    taken = client.post(
        _url(world, f"/{first['id']}/reschedule"), headers=member,
        json={"start": _at(wednesday, 11).isoformat()},
    )  # fmt: skip
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "time_taken"
    assert Booking.get_by_id(first["id"]).status == BookingStatus.CONFIRMED
    assert HostBusy.get_or_none(HostBusy.booking == first["id"]) is not None
    moved = client.post(
        _url(world, f"/{first['id']}/reschedule"), headers=member,
        json={"start": _at(wednesday, 14).isoformat()},
    )  # fmt: skip
    assert moved.status_code == 201, moved.text
    new = moved.json()
    assert new["rescheduled_from"] == first["id"] and new["start"].startswith(f"{wednesday}T14:00")
    old = client.get(_url(world, f"/{first['id']}"), headers=member).json()
    assert (old["status"], old["cancellation_reason"], old["rescheduled_to"]) == (
        "cancelled", "rescheduled", new["id"],
    )  # fmt: skip
    twice = client.post(
        _url(world, f"/{first['id']}/reschedule"), headers=member,
        json={"start": _at(wednesday, 15).isoformat()},
    )  # fmt: skip
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_rescheduled"
    # The old time is free again; the blocker still holds its own.
    assert _book(client, world, slot, _at(wednesday, 9), role=Role.GUEST).status_code == 201
    assert blocker["status"] == "confirmed"


def test_a_guests_link_without_an_account(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    slot = _slot(world, db, title="Video review")
    made = _book(
        client, world, slot, _at(wednesday, 9), role=Role.COACH,
        guest_name="Pat Doe", guest_email="Pat@Example.org",
    ).json()  # fmt: skip
    token = made["guest_link_token"]
    assert token and made["guest_email"] == "pat@example.org"
    view = client.get(f"/api/v1/guest/bookings/{token}")  # no Authorization header
    assert view.status_code == 200, view.text
    assert view.json()["title"] == "Video review" and view.json()["status"] == "confirmed"
    host = User.get_by_id(world.user_ids[Role.HOST])
    assert (
        host.email not in view.text
        and str(host.id) not in view.text
        and str(world.org.id) not in view.text
        and made["id"] not in view.text
    )
    times = client.get(
        f"/api/v1/guest/bookings/{token}/times",
        params={"from": wednesday.isoformat(), "to": wednesday.isoformat()},
    )
    assert times.status_code == 200 and times.json()["count"] == 7  # 8 hours, one taken
    moved = client.post(
        f"/api/v1/guest/bookings/{token}/reschedule", json={"start": _at(wednesday, 16).isoformat()}
    )
    assert moved.status_code == 201, moved.text
    new_token = moved.json()["link_token"]
    assert client.get(f"/api/v1/guest/bookings/{token}").json()["status"] == "cancelled"
    cancelled = client.post(f"/api/v1/guest/bookings/{new_token}/cancel", json={"reason": "busy"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    row = Booking.get(Booking.rescheduled_from == made["id"])
    assert row.cancelled_by_guest and row.cancelled_by_id is None
    # A tampered token and another purpose's token open nothing; an expired one says so.
    payload, _, signature = token.partition(".")
    assert client.get(f"/api/v1/guest/bookings/{payload}.{signature[:-2]}AA").status_code == 404
    assert client.get(f"/api/v1/guest/bookings/{payload}").status_code == 404
    with pytest.raises(NotFound):
        service.guest_booking(token=token, secret=b"another secret")
    with pytest.raises(Forbidden) as expired:
        service.guest_booking(token=token, secret=SECRET, now=_at(wednesday, 10))
    assert expired.value.code == "link_expired"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"start": "2001-01-03T09:00:00Z"}, "body.start"),  # in the past
        ({"start": "CURRENT+09:10"}, "body.start"),  # not a start time of the slot
        ({"start": "9999-12-31T23:59:59-23:59"}, "body.start"),
        ({"start": "CURRENT+09:00:00"}, "body.start"),  # no offset
        ({"start": None}, "body.start"),
        ({"slot_id": None}, "body.slot_id"),
        ({"slot_id": "00000000-0000-7000-8000-000000000000"}, "body.slot_id"),
        ({"guest_name": "Pat"}, "body"),  # a guest needs an email too
    ],
)
def test_bad_bookings_name_the_field(
    db: Database, client: TestClient, change: dict[str, Any], path: str
) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    slot = _slot(world, db)
    body: dict[str, Any] = {"slot_id": str(slot.id), "start": _at(wednesday, 9).isoformat()}
    for key, value in change.items():
        if isinstance(value, str) and value.startswith("CURRENT+"):
            suffix = value.removeprefix("CURRENT+")
            value = f"{wednesday.isoformat()}T{suffix}" + ("Z" if suffix.count(":") == 1 else "")
        body[key] = value
    response = client.post(_url(world), headers=auth(world.tokens[Role.COACH]), json=body)
    assert response.status_code in (404, 422), response.text
    paths = [f["path"] for f in response.json()["error"]["fields"]]
    assert any(p == path or p.startswith(path + ".") for p in paths), paths


def test_limits_and_notice_are_refused_with_their_code(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    slot = _slot(world, db, min_notice_minutes=60 * 24 * 30)
    soon = _book(client, world, slot, _at(wednesday, 9))
    assert soon.status_code == 409 and soon.json()["error"]["code"] == "too_soon"
    MeetingSlot.update(min_notice_minutes=0).execute()
    availability_service.put_booking_settings(
        db, scope=_scope(world, Role.HOST), host=User.get_by_id(world.user_ids[Role.HOST]),
        data=BookingSettingsUpdate(max_per_day=1),
    )  # fmt: skip
    assert _book(client, world, slot, _at(wednesday, 9)).status_code == 201
    full = _book(client, world, slot, _at(wednesday, 12), role=Role.GUEST)
    assert full.status_code == 409 and full.json()["error"]["code"] == "limit_reached"


# -- concurrency through a real server ---------------------------------------------------------


def _tokens(db: Database, world: World, count: int) -> list[str]:
    tokens = []
    for number in range(count):
        user = find_or_create_user(
            db, email=f"guest{number}@{world.slug}.example", name=f"G {number}"
        )
        add_membership(db, org=world.org, user=user, role=Role.MEMBER)
        tokens.append(issue_token(db, org=world.org, user=user, name="t")[1].secret)
    return tokens


def _simultaneously(
    server: str, requests: list[Callable[[httpx.Client], httpx.Response]]
) -> list[tuple[int, str]]:
    """Send every request at once (threads released by one barrier); (status, code) each."""
    barrier = threading.Barrier(len(requests))
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def run(send: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(base_url=server, timeout=120) as http:
            http.get("/api/v1/health")  # connect before the barrier
            barrier.wait()
            response = send(http)
        code = (
            response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""
        )
        with lock:
            outcomes.append((response.status_code, code))

    threads = [threading.Thread(target=run, args=(send,)) for send in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return outcomes


def _poster(
    world: World, token: str, body: dict[str, Any]
) -> Callable[[httpx.Client], httpx.Response]:
    return lambda http: http.post(_url(world), headers=auth(token), json=body)


CONCURRENT = 20  # bench/bookings_concurrency.py sends 50 against PostgreSQL


def test_simultaneous_bookings_of_one_time_give_exactly_one(db: Database, server: str) -> None:
    world = build_world(db, "alpha")
    slot = _slot(world, db)
    start = _at(_next_weekday(2), 10).isoformat()
    tokens = _tokens(db, world, CONCURRENT)
    outcomes = _simultaneously(
        server,
        [_poster(world, token, {"slot_id": str(slot.id), "start": start}) for token in tokens],
    )
    assert Counter(outcomes) == Counter({(201, ""): 1, (409, "time_taken"): CONCURRENT - 1})
    assert Booking.select().count() == 1


def test_simultaneous_partly_overlapping_bookings_give_exactly_one(
    db: Database, server: str
) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    # One slot per start minute 10:00, 10:03, ...: every hour-long booking overlaps every other.
    slots = [
        _slot(world, db, start_time=f"10:{3 * n:02d}", end_time=f"11:{3 * n:02d}")
        for n in range(CONCURRENT)
    ]
    tokens = _tokens(db, world, CONCURRENT)
    requests = [
        _poster(
            world, token, {"slot_id": str(slot.id), "start": _at(wednesday, 10, 3 * n).isoformat()}
        )
        for n, (slot, token) in enumerate(zip(slots, tokens, strict=True))
    ]
    outcomes = _simultaneously(server, requests)
    assert Counter(outcomes) == Counter({(201, ""): 1, (409, "time_taken"): CONCURRENT - 1})
    assert Booking.select().where(Booking.status == BookingStatus.CONFIRMED).count() == 1


def test_simultaneous_bookings_respect_the_daily_limit(db: Database, server: str) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    slot = _slot(world, db, start_time="08:00", end_time="18:00")
    availability_service.put_booking_settings(
        db, scope=_scope(world, Role.HOST), host=User.get_by_id(world.user_ids[Role.HOST]),
        data=BookingSettingsUpdate(max_per_day=3),
    )  # fmt: skip
    tokens = _tokens(db, world, 10)
    requests = [
        _poster(world, token, {"slot_id": str(slot.id), "start": _at(wednesday, 8 + n).isoformat()})
        for n, token in enumerate(tokens)
    ]
    outcomes = _simultaneously(server, requests)
    assert Counter(outcomes) == Counter({(201, ""): 3, (409, "limit_reached"): 7})


def test_simultaneous_reschedules_of_one_booking_move_it_once(db: Database, server: str) -> None:
    world = build_world(db, "alpha")
    wednesday = _next_weekday(2)
    slot = _slot(world, db, start_time="08:00", end_time="18:00")
    booking = service.create_booking(
        db, scope=_scope(world, Role.MEMBER), secret=SECRET,
        data=BookingCreate(slot_id=slot.id, start=_at(wednesday, 8)),
    ).booking  # fmt: skip
    token = world.tokens[Role.MEMBER]
    url = _url(world, f"/{booking.id}/reschedule")

    def move(hour: int) -> Callable[[httpx.Client], httpx.Response]:
        body = {"start": _at(wednesday, hour).isoformat()}
        return lambda http: http.post(url, headers=auth(token), json=body)

    outcomes = _simultaneously(server, [move(hour) for hour in range(9, 17)])
    assert Counter(outcomes) == Counter({(201, ""): 1, (409, "already_rescheduled"): 7})
    confirmed = list(Booking.select().where(Booking.status == BookingStatus.CONFIRMED))
    assert len(confirmed) == 1 and confirmed[0].rescheduled_from_id == booking.id
    assert HostBusy.select().where(HostBusy.host == world.user_ids[Role.HOST]).count() == 1


def test_simultaneous_retries_with_one_idempotency_key_make_one_booking(
    db: Database, server: str
) -> None:
    world = build_world(db, "alpha")
    slot = _slot(world, db)
    body = {"slot_id": str(slot.id), "start": _at(_next_weekday(2), 12).isoformat()}
    headers = {**auth(world.tokens[Role.MEMBER]), "Idempotency-Key": "retry-me"}
    outcomes = _simultaneously(
        server, [lambda http: http.post(_url(world), headers=headers, json=body)] * 8
    )
    assert Counter(outcomes) == Counter({(201, ""): 8})
    assert Booking.select().count() == 1
