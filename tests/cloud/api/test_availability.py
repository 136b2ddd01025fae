"""Bookable times on SQLite and PostgreSQL: computed in the slot's zone, across DST in
both hemispheres and in half- and quarter-hour zones; without bookings, the host's
sessions, buffers, notice, the booking window, blackouts and full days; extra hours;
bad input named by field."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.availability import BookingSettingsUpdate, OverrideCreate, SlotCreate
from cloud.api.services import availability as service
from cloud.models import BusyKind, HostBusy, MeetingSlot, OverrideKind, Role, User
from tests.cloud.api.world import World, auth, build_world


def _host_scope(world: World) -> OrgScope:
    return OrgScope(org=world.org, user=User.get_by_id(world.user_ids[Role.HOST]), role=Role.HOST)


def _slot(world: World, db: Database, **fields: Any) -> MeetingSlot:
    values: dict[str, Any] = {
        "day_of_week": 0,
        "start_time": "09:00",
        "end_time": "12:00",
        "duration_minutes": 30,
        "timezone": "Europe/Berlin",
    }
    values.update(fields)
    return service.create_slot(db, scope=_host_scope(world), data=SlotCreate.model_validate(values))


def _times(
    world: World, first: date, last: date, *, zone: str = "UTC", now: datetime | None = None
) -> list[datetime]:
    found = service.find_bookable_times(
        org_id=world.org.id,
        host_id=world.user_ids[Role.HOST],
        first=first,
        last=last,
        zone=zone,
        now=now or datetime.combine(first - timedelta(days=2), time(0), UTC),
    )
    return [item.starts_at for item in found.times]


def _local(instants: list[datetime], zone: str) -> list[str]:
    return [i.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M") for i in instants]


def _utc(instants: list[datetime]) -> list[str]:
    return [i.strftime("%m-%d %H:%M") for i in instants]


def test_weekly_slots_keep_local_time_across_dst_in_both_hemispheres(db: Database) -> None:
    world = build_world(db, "alpha")
    _slot(world, db, day_of_week=0, start_time="09:00", end_time="10:00", duration_minutes=60)
    _slot(
        world, db, day_of_week=0, start_time="09:00", end_time="10:00", duration_minutes=60,
        timezone="Australia/Sydney",
    )  # fmt: skip
    # Berlin goes to summer time on 28 March 2027, Sydney leaves it on 4 April.
    found = _times(world, date(2027, 3, 21), date(2027, 4, 12))
    berlin = [t for t in found if t.astimezone(ZoneInfo("Europe/Berlin")).hour == 9]
    sydney = [t for t in found if t.astimezone(ZoneInfo("Australia/Sydney")).hour == 9]
    assert _utc(berlin) == ["03-22 08:00", "03-29 07:00", "04-05 07:00", "04-12 07:00"]
    assert _utc(sydney) == ["03-21 22:00", "03-28 22:00", "04-04 23:00", "04-11 23:00"]


def test_a_window_across_the_change_has_the_hours_it_really_has(db: Database) -> None:
    world = build_world(db, "alpha")
    zone = "America/New_York"
    _slot(
        world, db, day_of_week=6, start_time="01:00", end_time="04:00", duration_minutes=60,
        timezone=zone,
    )  # fmt: skip
    spring = _times(world, date(2027, 3, 14), date(2027, 3, 14), zone=zone)
    assert _local(spring, zone) == ["03-14 01:00", "03-14 03:00"]  # 02:00 does not exist
    autumn = _times(world, date(2027, 11, 7), date(2027, 11, 7), zone=zone)
    # 01:00 happens twice: both are bookable, an hour apart.
    assert _utc(autumn) == ["11-07 05:00", "11-07 06:00", "11-07 07:00", "11-07 08:00"]
    assert _local(autumn, zone) == ["11-07 01:00", "11-07 01:00", "11-07 02:00", "11-07 03:00"]


@pytest.mark.parametrize(("zone", "utc"), [("Asia/Kolkata", "03:30"), ("Asia/Kathmandu", "03:15")])
def test_half_and_quarter_hour_zones(db: Database, zone: str, utc: str) -> None:
    world = build_world(db, "alpha")
    _slot(
        world,
        db,
        day_of_week=2,
        start_time="09:00",
        end_time="09:45",
        duration_minutes=45,
        timezone=zone,
    )
    found = _times(world, date(2027, 1, 6), date(2027, 1, 6), zone=zone)
    assert [t.strftime("%H:%M") for t in found] == [utc]


def test_taken_time_buffers_notice_window_and_limits(db: Database) -> None:
    world = build_world(db, "alpha")
    host = world.user_ids[Role.HOST]
    _slot(
        world, db, day_of_week=0, start_time="09:00", end_time="13:00", duration_minutes=60,
        timezone="UTC", buffer_before_minutes=15, buffer_after_minutes=15,
    )  # fmt: skip
    monday = date(2027, 1, 4)
    at = lambda hour: datetime.combine(monday, time(hour), UTC)  # noqa: E731
    assert _utc(_times(world, monday, monday)) == [
        "01-04 09:00",
        "01-04 10:00",
        "01-04 11:00",
        "01-04 12:00",
    ]
    # A session of the host 10:50-11:05: with 15-minute buffers both 10:00 and 11:00 go.
    HostBusy.create(
        org=world.org, host=host, starts_at=at(10) + timedelta(minutes=50),
        ends_at=at(11) + timedelta(minutes=5), kind=BusyKind.SESSION,
    )  # fmt: skip
    assert _utc(_times(world, monday, monday)) == ["01-04 09:00", "01-04 12:00"]
    # Minimum notice and past times: "now" is 08:30 with 60 minutes' notice.
    MeetingSlot.update(min_notice_minutes=60).execute()
    assert _utc(_times(world, monday, monday, now=at(8) + timedelta(minutes=30))) == ["01-04 12:00"]
    assert _times(world, monday, monday, now=at(13)) == []
    # The booking window: 7 days ahead of now.
    MeetingSlot.update(min_notice_minutes=0, booking_window_days=7).execute()
    two_weeks = _times(world, monday, monday + timedelta(days=14), now=at(0))
    assert {t.date() for t in two_weeks} == {monday}
    # Limits: one booking or session a day; the session already takes Monday.
    service.put_booking_settings(
        db, scope=_host_scope(world), host=User.get_by_id(host),
        data=BookingSettingsUpdate(max_per_day=1),
    )  # fmt: skip
    MeetingSlot.update(booking_window_days=60).execute()
    week_on = _times(world, monday, monday + timedelta(days=7), now=at(0))
    assert {t.date() for t in week_on} == {monday + timedelta(days=7)}


def test_blackouts_and_extra_hours(db: Database) -> None:
    world = build_world(db, "alpha")
    slot = _slot(
        world, db, day_of_week=0, start_time="09:00", end_time="11:00", duration_minutes=60
    )
    scope = _host_scope(world)
    monday, next_monday, saturday = date(2027, 1, 4), date(2027, 1, 11), date(2027, 1, 9)
    service.create_override(
        db, scope=scope,
        data=OverrideCreate(date=monday, kind=OverrideKind.BLACKOUT, timezone="Europe/Berlin"),
    )  # fmt: skip
    service.create_override(
        db, scope=scope,
        data=OverrideCreate(
            date=next_monday, kind=OverrideKind.BLACKOUT, timezone="Europe/Berlin",
            start_time=time(10), end_time=time(11),
        ),
    )  # fmt: skip
    service.create_override(
        db, scope=scope,
        data=OverrideCreate(
            date=saturday, kind=OverrideKind.EXTRA, timezone="Europe/Berlin",
            start_time=time(14), end_time=time(16), slot_id=slot.id,
        ),
    )  # fmt: skip
    found = _local(_times(world, monday, next_monday), "Europe/Berlin")
    assert found == ["01-09 14:00", "01-09 15:00", "01-11 09:00"]


def test_the_route_answers_in_utc_and_the_requesters_zone(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    _slot(
        world, db, day_of_week=0, start_time="09:00", end_time="10:00", duration_minutes=60,
        booking_window_days=365,
    )  # fmt: skip
    monday = datetime.now(UTC).date() + timedelta(days=30)
    monday -= timedelta(days=monday.weekday())
    expected = datetime.combine(monday, time(9), ZoneInfo("Europe/Berlin"))
    url = f"/api/v1/orgs/{world.slug}/hosts/{world.user_ids[Role.HOST]}/bookable-times"
    response = client.get(
        url,
        headers=auth(world.tokens[Role.GUEST]),
        params={"from": monday.isoformat(), "to": monday.isoformat(), "tz": "Asia/Kathmandu"},
    )
    assert response.status_code == 200, response.text
    (item,) = response.json()["data"]
    assert datetime.fromisoformat(item["start"]) == expected
    assert item["start"].endswith("Z")
    local = datetime.fromisoformat(item["start_local"])
    assert local == expected and local.utcoffset() == timedelta(hours=5, minutes=45)


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"from": "2027-01-04", "to": "2027-01-01"}, "query.to"),
        ({"from": "2027-01-01", "to": "2027-12-31"}, "query.to"),
        ({"from": "2027-01-01", "to": "2027-01-02", "tz": "Mars/Base"}, "query.tz"),
        ({"from": "0001-01-01", "to": "2027-01-02"}, "query.from"),
        ({"from": "2027-13-01"}, "query.from"),
    ],
)
def test_bad_queries_name_the_parameter(
    db: Database, client: TestClient, params: dict[str, str], path: str
) -> None:
    world = build_world(db, "alpha")
    url = f"/api/v1/orgs/{world.slug}/hosts/{world.user_ids[Role.HOST]}/bookable-times"
    response = client.get(url, headers=auth(world.tokens[Role.GUEST]), params=params)
    assert response.status_code == 422, response.text
    assert path in [f["path"] for f in response.json()["error"]["fields"]]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"end_time": "08:00"}, "body.end_time"),
        ({"duration_minutes": 0}, "body.duration_minutes"),
        ({"duration_minutes": 240}, "body.duration_minutes"),
        ({"timezone": "Nowhere/Land"}, "body.timezone"),
        ({"day_of_week": 7}, "body.day_of_week"),
        ({"start_time": "09:00:30"}, "body.start_time"),
        ({"price_minor": 500}, "body.currency"),
        ({"start_time": None}, "body.start_time"),
    ],
)
def test_bad_slots_name_the_field(
    db: Database, client: TestClient, change: dict[str, Any], path: str
) -> None:
    world = build_world(db, "alpha")
    body = {
        "day_of_week": 0,
        "start_time": "09:00",
        "end_time": "12:00",
        "duration_minutes": 30,
        "timezone": "Europe/Berlin",
        **change,
    }
    response = client.post(
        f"/api/v1/orgs/{world.slug}/meeting-slots", headers=auth(world.tokens[Role.HOST]), json=body
    )
    assert response.status_code == 422, response.text
    assert path in [f["path"] for f in response.json()["error"]["fields"]]


def test_hosts_manage_their_own_slots_admins_anyones(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    body = {
        "day_of_week": 3,
        "start_time": "17:00",
        "end_time": "18:00",
        "duration_minutes": 20,
        "timezone": "UTC",
    }
    url = f"/api/v1/orgs/{world.slug}/meeting-slots"
    mine = client.post(url, headers=auth(world.tokens[Role.HOST]), json=body)
    assert mine.status_code == 201 and mine.json()["host_id"] == str(world.user_ids[Role.HOST])
    other = {**body, "host_id": str(world.user_ids[Role.HOST])}
    assert client.post(url, headers=auth(world.tokens[Role.COACH]), json=other).status_code == 403
    assert client.post(url, headers=auth(world.tokens[Role.ADMIN]), json=other).status_code == 201
    not_a_host = {**body, "host_id": str(world.user_ids[Role.MEMBER])}
    refused = client.post(url, headers=auth(world.tokens[Role.ADMIN]), json=not_a_host)
    assert (
        refused.status_code == 422
        and refused.json()["error"]["fields"][0]["path"] == "body.host_id"
    )
    slot_url = f"{url}/{mine.json()['id']}"
    assert (
        client.patch(
            slot_url, headers=auth(world.tokens[Role.COACH]), json={"title": "x"}
        ).status_code
        == 403
    )
    patched = client.patch(
        slot_url, headers=auth(world.tokens[Role.HOST]), json={"is_active": False}
    )
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    listed = client.get(url, headers=auth(world.tokens[Role.GUEST])).json()
    assert listed["count"] == 2
