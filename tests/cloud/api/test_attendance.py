"""Attendance for every session type (merged join/leave intervals, late by the host's
grace period, reports per session and per participant) and SessionStats with exact
revenue per currency, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.availability import BookingSettingsUpdate, SlotCreate
from cloud.api.schemas.bookings import BookingCreate
from cloud.api.services import availability, bookings
from cloud.api.services.attendance import session_stats
from cloud.models import (
    AttendanceInterval,
    Booking,
    BookingStatus,
    Role,
    Session,
    SessionParticipant,
    SessionStatus,
    SessionType,
    User,
    utc_now,
)
from cloud.scheduling.attendance import Interval, merge, summarise
from tests.cloud.api.world import World, auth, build_world

T0 = datetime(2027, 5, 1, 18, tzinfo=UTC)


def _m(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_intervals_merge_and_an_open_one_swallows_the_rest() -> None:
    merged = merge(
        [Interval(_m(30), _m(40)), Interval(_m(0), _m(10)), Interval(_m(10), _m(20)),
         Interval(_m(35), _m(50)), Interval(_m(60), None), Interval(_m(70), _m(80))]
    )  # fmt: skip
    assert merged == [Interval(_m(0), _m(20)), Interval(_m(30), _m(50)), Interval(_m(60), None)]
    summary = summarise(merged)
    assert (summary.joined_at, summary.left_at, summary.duration_seconds) == (_m(0), None, 40 * 60)


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 120)), min_size=1, max_size=12))
def test_the_merged_duration_is_the_union_of_the_intervals(spans: list[tuple[int, int]]) -> None:
    intervals = [Interval(_m(start), _m(start + length)) for start, length in spans]
    covered = {minute for start, length in spans for minute in range(start, start + length)}
    summary = summarise(intervals)
    assert summary.duration_seconds == len(covered) * 60
    assert summary.joined_at == _m(min(start for start, _ in spans))
    merged = summary.merged
    assert all(
        a.left_at is not None and a.left_at < b.joined_at for a, b in itertools.pairwise(merged)
    )


def _live(world: World, *, minutes_ago: int = 30, **fields: Any) -> Session:
    start = utc_now() - timedelta(minutes=minutes_ago)
    return Session.create(
        org=world.org,
        title=fields.pop("title", "Workshop"),
        type=fields.pop("type", SessionType.WORKSHOP),
        status=SessionStatus.LIVE,
        scheduled_at=start,
        started_at=start,
        host=world.user_ids[Role.HOST],
        **fields,
    )


def _register(session: Session, **fields: Any) -> SessionParticipant:
    row: SessionParticipant = SessionParticipant.create(session=session, **fields)
    Session.update(participant_count=Session.participant_count + 1).where(
        Session.id == session.id
    ).execute()
    return row


def _url(world: World, session: Session, participant: SessionParticipant, action: str) -> str:
    return f"/api/v1/orgs/{world.slug}/sessions/{session.id}/participants/{participant.id}/{action}"


@pytest.mark.parametrize(
    "kind", [SessionType.WEBINAR, SessionType.PRACTICE, SessionType.OFFICE_HOURS]
)
def test_join_leave_twice_is_merged_and_late_follows_the_grace(
    db: Database, client: TestClient, kind: SessionType
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    session = _live(world, type=kind, late_grace_minutes=10)
    start = session.scheduled_at
    punctual = _register(session, guest_name="Pat")
    late = _register(session, guest_name="Sam")
    for who, at in (
        (punctual, start + timedelta(minutes=9)),
        (late, start + timedelta(minutes=11)),
    ):
        joined = client.post(
            _url(world, session, who, "join"), headers=coach, json={"at": at.isoformat()}
        )
        assert joined.status_code == 200, joined.text
    assert (
        client.get(
            f"/api/v1/orgs/{world.slug}/sessions/{session.id}/participants", headers=coach
        ).json()["data"][0]["left_at"]
        is None
    )
    again = client.post(_url(world, session, punctual, "join"), headers=coach, json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_joined"
    left = client.post(
        _url(world, session, punctual, "leave"), headers=coach,
        json={"at": (start + timedelta(minutes=15)).isoformat()},
    )  # fmt: skip
    assert left.json()["duration_seconds"] == 6 * 60
    # Back for a second stretch, and an overlapping interval recorded by hand.
    client.post(_url(world, session, punctual, "join"), headers=coach,
                json={"at": (start + timedelta(minutes=20)).isoformat()})  # fmt: skip
    client.post(_url(world, session, punctual, "leave"), headers=coach,
                json={"at": (start + timedelta(minutes=25)).isoformat()})  # fmt: skip
    merged = client.post(
        _url(world, session, punctual, "intervals"), headers=coach,
        json={"joined_at": (start + timedelta(minutes=22)).isoformat(),
              "left_at": (start + timedelta(minutes=28)).isoformat()},
    ).json()  # fmt: skip
    assert merged["duration_seconds"] == (6 + 8) * 60
    assert len(merged["intervals"]) == 3 and merged["attendance"] == "present"
    assert merged["joined_at"].startswith((start + timedelta(minutes=9)).strftime("%Y-%m-%dT%H:%M"))
    assert merged["left_at"].startswith((start + timedelta(minutes=28)).strftime("%Y-%m-%dT%H:%M"))
    report = client.get(
        f"/api/v1/orgs/{world.slug}/sessions/{session.id}/attendance", headers=coach
    ).json()
    assert (report["total_expected"], report["total_present"], report["total_late"]) == (2, 1, 1)
    assert [len(r["intervals"]) for r in report["records"]] == [3, 1]


def test_leaving_before_joining_is_refused(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    session = _live(world)
    who = _register(session, guest_name="Pat")
    nobody_here = client.post(_url(world, session, who, "leave"), headers=coach, json={})
    assert nobody_here.status_code == 409 and nobody_here.json()["error"]["code"] == "not_joined"
    joined_at = session.scheduled_at + timedelta(minutes=5)
    client.post(
        _url(world, session, who, "join"), headers=coach, json={"at": joined_at.isoformat()}
    )
    early = client.post(
        _url(world, session, who, "leave"), headers=coach,
        json={"at": (joined_at - timedelta(minutes=1)).isoformat()},
    )  # fmt: skip
    assert early.status_code == 422 and early.json()["error"]["fields"][0]["path"] == "body.left_at"
    backwards = client.post(
        _url(world, session, who, "intervals"), headers=coach,
        json={"joined_at": joined_at.isoformat(), "left_at": (joined_at - timedelta(seconds=1)).isoformat()},
    )  # fmt: skip
    assert (
        backwards.status_code == 422
        and backwards.json()["error"]["fields"][0]["path"] == "body.left_at"
    )
    future = client.post(
        _url(world, session, who, "intervals"), headers=coach,
        json={"joined_at": (utc_now() + timedelta(hours=2)).isoformat()},
    )  # fmt: skip
    assert (
        future.status_code == 422
        and future.json()["error"]["fields"][0]["path"] == "body.joined_at"
    )
    assert AttendanceInterval.select().count() == 1


def test_a_status_set_by_hand_is_kept_and_the_hosts_grace_applies(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    host = User.get_by_id(world.user_ids[Role.HOST])
    availability.put_booking_settings(
        db, scope=OrgScope(org=world.org, user=host, role=Role.HOST), host=host,
        data=BookingSettingsUpdate(late_grace_minutes=20),
    )  # fmt: skip
    session = _live(world)
    who = _register(session, guest_name="Pat")
    excused = client.patch(
        f"/api/v1/orgs/{world.slug}/sessions/{session.id}/participants/{who.id}",
        headers=coach, json={"attendance": "excused"},
    )  # fmt: skip
    assert excused.json()["attendance"] == "excused" and excused.json()["attendance_auto"] is False
    at = session.scheduled_at + timedelta(minutes=15)  # late by 5, on time by the host's 20
    joined = client.post(
        _url(world, session, who, "join"), headers=coach, json={"at": at.isoformat()}
    )
    assert joined.json()["attendance"] == "excused"  # a coach's choice is kept
    handed_back = client.patch(
        f"/api/v1/orgs/{world.slug}/sessions/{session.id}/participants/{who.id}",
        headers=coach, json={"attendance": None},
    )  # fmt: skip
    assert handed_back.json()["attendance"] == "present" and handed_back.json()["attendance_auto"]


def test_a_participants_attendance_across_sessions(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    member_id = world.user_ids[Role.MEMBER]
    earlier = _live(world, minutes_ago=60 * 24 * 10, title="Ten days ago")
    recent = _live(world, minutes_ago=60, title="An hour ago")
    other = _live(world, minutes_ago=30, title="Not theirs")
    for session, status in ((earlier, "late"), (recent, "present")):
        row = _register(session, user=member_id)
        SessionParticipant.update(attendance=status, duration_seconds=600).where(
            SessionParticipant.id == row.id
        ).execute()
    _register(other, guest_name="Pat", guest_email="pat@x.org")
    since = (utc_now() - timedelta(days=30)).isoformat()
    mine = client.get(
        f"/api/v1/orgs/{world.slug}/attendance",
        headers=auth(world.tokens[Role.MEMBER]),
        params={"since": since},
    ).json()
    assert [s["title"] for s in mine["sessions"]] == ["Ten days ago", "An hour ago"]
    assert (mine["total_expected"], mine["total_late"], mine["total_present"]) == (2, 1, 1)
    assert mine["total_duration_seconds"] == 1200
    week = client.get(
        f"/api/v1/orgs/{world.slug}/attendance",
        headers=auth(world.tokens[Role.COACH]),
        params={"user_id": str(member_id), "since": (utc_now() - timedelta(days=7)).isoformat()},
    ).json()
    assert [s["title"] for s in week["sessions"]] == ["An hour ago"]
    guest = client.get(
        f"/api/v1/orgs/{world.slug}/attendance",
        headers=auth(world.tokens[Role.COACH]),
        params={"guest_email": "PAT@x.org"},
    ).json()
    assert [s["title"] for s in guest["sessions"]] == ["Not theirs"]
    nosy = client.get(
        f"/api/v1/orgs/{world.slug}/attendance",
        headers=auth(world.tokens[Role.MEMBER]),
        params={"user_id": str(world.user_ids[Role.GUEST])},
    )
    assert nosy.status_code == 403


def test_stats_count_and_sum_revenue_exactly_per_currency(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    host = User.get_by_id(world.user_ids[Role.HOST])
    day = utc_now().date() + timedelta(days=7)
    at = datetime.combine(day, time(9), UTC)
    paid = Session.create(
        org=world.org, title="Paid class", status=SessionStatus.SCHEDULED, scheduled_at=at,
        is_free=False, price_minor=1999, currency="EUR", host=host, max_participants=50,
        team=world.team,
    )  # fmt: skip
    url = f"/api/v1/orgs/{world.slug}/sessions/{paid.id}/participants"
    for n in range(3):
        assert client.post(url, headers=coach, json={"guest_name": f"P{n}"}).status_code == 201
    cancelled = client.post(url, headers=coach, json={"guest_name": "Gone"}).json()
    client.delete(f"{url}/{cancelled['id']}", headers=coach)
    # The price changes afterwards: seats already taken keep theirs.
    Session.update(price_minor=2500).where(Session.id == paid.id).execute()
    Session.create(
        org=world.org, title="Called off", status=SessionStatus.CANCELLED, scheduled_at=at
    )
    Session.create(org=world.org, title="Outside", status=SessionStatus.SCHEDULED,
                   scheduled_at=at + timedelta(days=60))  # fmt: skip
    scope = OrgScope(org=world.org, user=host, role=Role.HOST)
    slot = availability.create_slot(
        db, scope=scope,
        data=SlotCreate(day_of_week=day.weekday(), start_time=time(12), end_time=time(16),
                        duration_minutes=60, timezone="UTC", price_minor=4001, currency="GBP"),
    )  # fmt: skip
    member = OrgScope(
        org=world.org, user=User.get_by_id(world.user_ids[Role.MEMBER]), role=Role.MEMBER
    )
    made = [
        bookings.create_booking(
            db, scope=member, secret=b"s",
            data=BookingCreate(slot_id=slot.id, start=datetime.combine(day, time(hour), UTC)),
        ).booking
        for hour in (12, 13, 14)
    ]  # fmt: skip
    Booking.update(status=BookingStatus.CANCELLED).where(Booking.id == made[2].id).execute()
    params = {
        "since": datetime.combine(day, time(0), UTC).isoformat(),
        "until": datetime.combine(day + timedelta(days=1), time(0), UTC).isoformat(),
    }
    stats = client.get(f"/api/v1/orgs/{world.slug}/stats", headers=coach, params=params).json()
    assert (
        stats["total_sessions"], stats["cancelled_sessions"], stats["total_participants"],
        stats["total_meetings"],
    ) == (1, 1, 3, 2)  # fmt: skip
    assert stats["total_revenue"] == [
        {"currency": "EUR", "amount_minor": 3 * 1999},
        {"currency": "GBP", "amount_minor": 2 * 4001},
    ]
    by_team = session_stats(scope=scope, since=None, until=None, team_id=world.team.id)
    assert by_team.total_meetings == 0 and [r.currency for r in by_team.total_revenue] == ["EUR"]
    by_host = client.get(
        f"/api/v1/orgs/{world.slug}/stats", headers=coach,
        params={"host_id": str(world.user_ids[Role.COACH])},
    ).json()  # fmt: skip
    assert by_host["total_sessions"] == 0 and by_host["total_revenue"] == []
    live_now = client.get(f"/api/v1/orgs/{world.slug}/stats", headers=coach).json()
    assert live_now["live_sessions"] == 1  # the world's live practice
