"""Calendar feeds read back by an independent library (recurring-ical-events over
icalendar): the instants a phone computes from the feed are exactly the API's, across
DST, with cancelled and edited occurrences, a split series, single sessions and
bookings; stable UIDs, VTIMEZONE, DTSTART;TZID=; secret, revocable URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import recurring_ical_events
from fastapi.testclient import TestClient
from icalendar import Calendar
from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.availability import SlotCreate
from cloud.api.schemas.bookings import BookingCreate
from cloud.api.schemas.series import SeriesCreate, SeriesUpdate
from cloud.api.services import availability, bookings, series
from cloud.models import Booking, BookingStatus, Role, Session, SessionStatus, User, utc_now
from tests.cloud.api.world import World, auth, build_world


def _scope(world: World, role: Role) -> OrgScope:
    return OrgScope(org=world.org, user=User.get_by_id(world.user_ids[role]), role=role)


def _schedule(db: Database, world: World, client: TestClient) -> None:
    """A New York weekly series across the March change, one occurrence cancelled, one
    moved, the series retitled from the fifth (a split); a single session; a booking."""
    coach = auth(world.tokens[Role.COACH])
    year = utc_now().year + 1
    start = datetime(year, 3, 1, 18, 0)
    start += timedelta(days=(0 - start.weekday()) % 7)  # a Monday on or after 1 March
    data = SeriesCreate.model_validate(
        {
            "title": "Evening practice",
            "host_id": str(world.user_ids[Role.HOST]),
            "start": start.isoformat(),
            "timezone": "America/New_York",
            "duration_minutes": 90,
            "rule": {"freq": "weekly", "count": 8},
        }
    )
    made = series.create_series(db, scope=_scope(world, Role.COACH), data=data)
    sessions = list(
        Session.select()
        .where(Session.recurrence_id == made.series.id)
        .order_by(Session.scheduled_at)
    )
    cancelled = client.post(
        f"/api/v1/orgs/{world.slug}/sessions/{sessions[1].id}/cancel", headers=coach, json={}
    )
    assert cancelled.status_code == 200, cancelled.text
    moved = client.patch(
        f"/api/v1/orgs/{world.slug}/sessions/{sessions[2].id}",
        headers=coach,
        json={"scheduled_at": (sessions[2].scheduled_at + timedelta(hours=1)).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    split = series.update_series(
        db,
        scope=_scope(world, Role.COACH),
        series=made.series,
        data=SeriesUpdate(title="Late practice", effective_from=sessions[4].scheduled_at),
    )
    assert split.continued_by is not None
    single = client.post(
        f"/api/v1/orgs/{world.slug}/sessions",
        headers=coach,
        json={
            "title": "Clinic",
            "host_id": str(world.user_ids[Role.HOST]),
            "scheduled_at": datetime(year, 3, 20, 15, tzinfo=UTC).isoformat(),
            "duration_minutes": 45,
            "timezone": "Europe/Berlin",
        },
    )
    assert single.status_code == 201, single.text
    slot = availability.create_slot(
        db,
        scope=_scope(world, Role.HOST),
        data=SlotCreate(
            day_of_week=(utc_now() + timedelta(days=10)).weekday(),
            start_time=clock(9),
            end_time=clock(12),
            duration_minutes=60,
            timezone="Asia/Kathmandu",
        ),
    )
    bookings.create_booking(
        db,
        scope=_scope(world, Role.MEMBER),
        secret=b"s",
        data=BookingCreate(
            slot_id=slot.id,
            start=datetime.combine(
                (utc_now() + timedelta(days=10)).date(), clock(9), ZoneInfo("Asia/Kathmandu")
            ),
        ),
    )


def _feed(client: TestClient, world: World, body: dict[str, Any], role: Role = Role.HOST) -> Any:
    response = client.post(
        f"/api/v1/orgs/{world.slug}/calendar-feeds", headers=auth(world.tokens[role]), json=body
    )
    return response


def _instants(ics: bytes, since: datetime, until: datetime) -> list[tuple[datetime, str]]:
    calendar = Calendar.from_ical(ics)
    events = recurring_ical_events.of(calendar).between(since, until)
    return sorted((event["DTSTART"].dt.astimezone(UTC), str(event["SUMMARY"])) for event in events)


def test_a_phone_computes_the_times_the_api_shows(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    _schedule(db, world, client)
    created = _feed(client, world, {"host_id": str(world.user_ids[Role.HOST])})
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert url.startswith("/api/v1/calendar/cal_") and url.endswith(".ics")
    first = client.get(url)  # no Authorization: the secret URL is the key
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/calendar")
    text = first.content.decode()
    assert "BEGIN:VTIMEZONE" in text and "TZID:America/New_York" in text
    assert "DTSTART;TZID=America/New_York:" in text
    assert "RRULE:FREQ=WEEKLY" in text and "EXDATE;TZID=America/New_York:" in text
    assert "RECURRENCE-ID;TZID=America/New_York:" in text
    since, until = utc_now() - timedelta(days=1), utc_now() + timedelta(days=500)
    from_feed = _instants(first.content, since, until)
    host = world.user_ids[Role.HOST]
    from_api = sorted(
        [
            (s.scheduled_at, s.title)
            for s in Session.select().where(
                (Session.host == host)
                & (Session.status != SessionStatus.CANCELLED)
                & Session.deleted_at.is_null()
                & (Session.scheduled_at >= since)
                & (Session.scheduled_at < until)
            )
        ]
        + [
            (b.starts_at, f"Meeting with {User.get_by_id(b.guest_id).name}")
            for b in Booking.select().where(
                (Booking.host == host) & (Booking.status != BookingStatus.CANCELLED)
            )
        ]
    )
    assert from_feed == from_api
    assert len(from_feed) == 9  # 8 weekly, one cancelled, a clinic and a booking
    # Across the change: 18:00 New York is 23:00 UTC before 14 March, 22:00 after.
    evening = [at for at, title in from_feed if "practice" in title]
    assert {at.hour for at in evening} == {22, 23}
    second = client.get(url)
    uids = lambda ics: sorted(str(e["UID"]) for e in Calendar.from_ical(ics).walk("VEVENT"))  # noqa: E731
    assert uids(first.content) == uids(second.content)


def test_a_team_feed_and_revoking(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    at = utc_now().replace(microsecond=0) + timedelta(days=3)
    client.post(
        f"/api/v1/orgs/{world.slug}/sessions",
        headers=coach,
        json={
            "title": "Team run",
            "team_id": str(world.team.id),
            "scheduled_at": at.isoformat(),
            "duration_minutes": 60,
            "timezone": "Australia/Sydney",
        },
    )
    created = _feed(client, world, {"team_id": str(world.team.id)}, role=Role.COACH)
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    (only,) = _instants(client.get(url).content, at - timedelta(days=1), at + timedelta(days=1))
    assert only == (at, "Team run")
    listed = client.get(f"/api/v1/orgs/{world.slug}/calendar-feeds", headers=coach).json()
    assert [f["id"] for f in listed["data"]] == [created.json()["id"]]
    assert "token" not in listed["data"][0]
    revoked = client.delete(
        f"/api/v1/orgs/{world.slug}/calendar-feeds/{created.json()['id']}", headers=coach
    )
    assert revoked.status_code == 204
    assert client.get(url).status_code == 404
    assert client.get("/api/v1/calendar/cal_not-a-token.ics").status_code == 404
    # Another host's feed shows their bookings' guests: only they or an admin make it.
    refused = _feed(client, world, {"host_id": str(world.user_ids[Role.HOST])}, role=Role.COACH)
    assert refused.status_code == 403
    assert (
        _feed(
            client, world, {"host_id": str(world.user_ids[Role.HOST])}, role=Role.ADMIN
        ).status_code
        == 201
    )
    both = _feed(
        client, world, {"host_id": str(world.user_ids[Role.HOST]), "team_id": str(world.team.id)}
    )
    assert both.status_code == 422
