"""Recurring sessions through the API and its services, on SQLite and PostgreSQL: local
time kept across DST in both hemispheres, gaps and repeated hours, half- and
quarter-hour zones, month ends, all-or-nothing conflict checks, this-and-following
edits and cancellations, and extension to the horizon."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.series import SeriesCancel, SeriesCreate, SeriesUpdate
from cloud.api.services import series as service
from cloud.models import HostBusy, Role, Session, SessionSeries, SessionStatus, User, utc_now
from tests.cloud.api.world import World, auth, build_world


def _scope(world: World, role: Role = Role.COACH) -> OrgScope:
    return OrgScope(org=world.org, user=User.get_by_id(world.user_ids[role]), role=role)


def _url(world: World, rest: str = "") -> str:
    return f"/api/v1/orgs/{world.slug}/series{rest}"


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Evening practice",
        "type": "training",
        "host_id": str(world.user_ids[Role.HOST]),
        "start": "2027-03-01T18:00",
        "timezone": "America/New_York",
        "duration_minutes": 90,
        "rule": {"freq": "weekly", "count": 4},
    }
    body.update(overrides)
    return body


def _next_year() -> int:
    return utc_now().year + 1


def _create(world: World, db: Database, **overrides: Any) -> service.SeriesOutcome:
    data = SeriesCreate.model_validate(_body(world, **overrides))
    return service.create_series(db, scope=_scope(world), data=data, now=_before(data))


def _before(data: SeriesCreate) -> datetime:
    """A 'now' a day before the series starts (services take the clock as an argument)."""
    return data.start.replace(tzinfo=UTC) - timedelta(days=2)


def _occurrences(series_id: Any) -> list[Session]:
    return list(
        Session.select()
        .where((Session.recurrence_id == series_id) & Session.deleted_at.is_null())
        .order_by(Session.scheduled_at)
    )


def _walls(sessions: list[Session], zone: str) -> list[str]:
    return [s.scheduled_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") for s in sessions]


@pytest.mark.parametrize(
    ("zone", "start", "rule", "expected_utc"),
    [
        # New York springs forward on 14 March 2027: 18:00 stays 18:00, UTC moves an hour.
        (
            "America/New_York",
            "2027-03-07T18:00",
            {"freq": "weekly", "count": 2},
            ["2027-03-07 23:00", "2027-03-14 22:00"],
        ),
        # Berlin falls back on 31 October 2027.
        (
            "Europe/Berlin",
            "2027-10-24T18:00",
            {"freq": "weekly", "count": 2},
            ["2027-10-24 16:00", "2027-10-31 17:00"],
        ),
        # Southern hemisphere: Sydney's summer time starts on 3 October 2027 ...
        (
            "Australia/Sydney",
            "2027-09-26T09:00",
            {"freq": "weekly", "count": 2},
            ["2027-09-25 23:00", "2027-10-02 22:00"],
        ),
        # ... and ends on 4 April 2027.
        (
            "Australia/Sydney",
            "2027-03-28T09:00",
            {"freq": "weekly", "count": 2},
            ["2027-03-27 22:00", "2027-04-03 23:00"],
        ),
        # Half-hour and quarter-hour zones (no DST).
        (
            "Asia/Kolkata",
            "2027-01-04T09:00",
            {"freq": "daily", "count": 2},
            ["2027-01-04 03:30", "2027-01-05 03:30"],
        ),
        (
            "Asia/Kathmandu",
            "2027-01-04T09:00",
            {"freq": "daily", "count": 2},
            ["2027-01-04 03:15", "2027-01-05 03:15"],
        ),
        # A wall time in the spring-forward gap: read with the offset before the gap
        # (02:30 EST = 07:30 UTC = 03:30 EDT), as RFC 5545 says.
        (
            "America/New_York",
            "2027-03-13T02:30",
            {"freq": "daily", "count": 3},
            ["2027-03-13 07:30", "2027-03-14 07:30", "2027-03-15 06:30"],
        ),
        # A wall time that happens twice (fall back, 7 November 2027): the first one.
        (
            "America/New_York",
            "2027-11-06T01:30",
            {"freq": "daily", "count": 3},
            ["2027-11-06 05:30", "2027-11-07 05:30", "2027-11-08 06:30"],
        ),
    ],
)
def test_occurrences_keep_their_local_time(
    db: Database, zone: str, start: str, rule: dict[str, Any], expected_utc: list[str]
) -> None:
    world = build_world(db, "alpha")
    outcome = _create(world, db, timezone=zone, start=start, rule=rule, duration_minutes=60)
    sessions = _occurrences(outcome.series.id)
    assert [s.scheduled_at.strftime("%Y-%m-%d %H:%M") for s in sessions] == expected_utc
    assert all(s.occurrence_at == s.scheduled_at for s in sessions)
    assert {s.timezone for s in sessions} == {zone}


@pytest.mark.parametrize(
    ("start", "rule", "expected"),
    [
        # Day 31: that day, or the last day of a shorter month (never a skipped month).
        (
            "2027-01-31T10:00",
            {"freq": "monthly", "count": 5},
            ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"],
        ),
        # Day 29 in a leap year and in the years around it.
        (
            "2027-12-29T10:00",
            {"freq": "monthly", "count": 3},
            ["2027-12-29", "2028-01-29", "2028-02-29"],
        ),
        (
            "2028-01-30T10:00",
            {"freq": "monthly", "month_day": 30, "count": 3},
            ["2028-01-30", "2028-02-29", "2028-03-30"],
        ),
        # The last day of every month.
        (
            "2027-01-15T10:00",
            {"freq": "monthly", "month_day": -1, "count": 3},
            ["2027-01-31", "2027-02-28", "2027-03-31"],
        ),
        # The last Friday, and the second Tuesday.
        (
            "2027-01-01T10:00",
            {"freq": "monthly", "week_of_month": -1, "weekday": "FR", "count": 3},
            ["2027-01-29", "2027-02-26", "2027-03-26"],
        ),
        (
            "2027-01-01T10:00",
            {"freq": "monthly", "week_of_month": 2, "weekday": "TU", "count": 2},
            ["2027-01-12", "2027-02-09"],
        ),
        # Biweekly on two days, until a date (inclusive).
        (
            "2027-01-04T10:00",
            {"freq": "biweekly", "weekdays": ["WE", "MO"], "until": "2027-01-20"},
            ["2027-01-04", "2027-01-06", "2027-01-18", "2027-01-20"],
        ),
    ],
)
def test_month_ends_and_rule_shapes(
    db: Database, start: str, rule: dict[str, Any], expected: list[str]
) -> None:
    world = build_world(db, "alpha")
    outcome = _create(world, db, start=start, rule=rule, timezone="Europe/Berlin")
    walls = _walls(_occurrences(outcome.series.id), "Europe/Berlin")
    assert [wall[:10] for wall in walls] == expected
    assert {wall[11:] for wall in walls} == {"10:00"}


def test_the_first_occurrence_is_the_rules_first_day(db: Database) -> None:
    world = build_world(db, "alpha")
    # 2027-03-02 is a Tuesday; weekly on Mondays starts on the 8th.
    outcome = _create(
        world, db, start="2027-03-02T18:00", rule={"freq": "weekly", "weekdays": ["MO"], "count": 2}
    )
    assert outcome.series.start_local == "2027-03-08T18:00:00"
    assert outcome.series.rrule == "FREQ=WEEKLY;BYDAY=MO;COUNT=2"
    assert _walls(_occurrences(outcome.series.id), "America/New_York") == [
        "2027-03-08 18:00",
        "2027-03-15 18:00",
    ]


def test_a_conflict_anywhere_in_the_series_writes_nothing(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    year = _next_year()
    # The host already hosts a session over the third Monday's practice.
    third = datetime(year, 3, 15, 18, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    if third.weekday() != 0:
        third += timedelta(days=(7 - third.weekday()) % 7)
    busy = client.post(
        f"/api/v1/orgs/{world.slug}/sessions",
        headers=coach,
        json={
            "title": "Clinic",
            "host_id": str(world.user_ids[Role.HOST]),
            "scheduled_at": third.isoformat(),
            "duration_minutes": 30,
        },
    )
    assert busy.status_code == 201, busy.text
    start = third - timedelta(days=14, minutes=30)
    body = _body(
        world,
        start=start.replace(tzinfo=None).isoformat(timespec="minutes"),
        timezone="Europe/Berlin",
        rule={"freq": "weekly", "count": 6},
    )
    refused = client.post(_url(world), headers=coach, json=body)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "time_taken"
    assert [f["path"] for f in error["fields"]] == ["occurrences[2]"]
    assert busy.json()["id"] in error["fields"][0]["message"]
    assert SessionSeries.select().count() == 0
    assert Session.select().where(Session.recurrence_id.is_null(False)).count() == 0
    # Free the time (cancel the clinic) and the same series fits.
    client.post(f"/api/v1/orgs/{world.slug}/sessions/{busy.json()['id']}/cancel", headers=coach)
    created = client.post(_url(world), headers=coach, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["created_occurrences"] == 6
    assert HostBusy.select().where(HostBusy.host == world.user_ids[Role.HOST]).count() == 6


def test_a_weekly_series_of_two_years_is_written_whole(db: Database) -> None:
    world = build_world(db, "alpha")
    outcome = _create(world, db, start="2027-01-04T18:00", rule={"freq": "weekly", "count": 104})
    assert outcome.created == 104
    assert outcome.series.materialised_until is None  # finite: all of it exists
    assert len(_occurrences(outcome.series.id)) == 104


def test_occurrences_of_one_series_may_not_overlap(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    body = _body(
        world,
        start=f"{_next_year()}-01-04T18:00",
        duration_minutes=25 * 60,
        rule={"freq": "daily", "count": 3},
    )
    response = client.post(_url(world), headers=auth(world.tokens[Role.COACH]), json=body)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["path"] == "body.duration_minutes"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"timezone": "Mars/Olympus"}, "body.timezone"),
        ({"duration_minutes": 0}, "body.duration_minutes"),
        ({"start": "2001-01-01T10:00"}, "body.start"),
        ({"start": "9999-12-31T23:30"}, "body.start"),
        ({"start": "2027-03-01T18:00+01:00"}, "body.start"),
        ({"title": None}, "body.title"),
        ({"rule": {"freq": "weekly", "count": 0}}, "body.rule.count"),
        ({"rule": {"freq": "hourly"}}, "body.rule.freq"),
        ({"rule": {"freq": "weekly", "count": 2, "until": "2028-01-01"}}, "body.rule"),
        ({"rule": {"freq": "daily", "until": "2020-01-01"}}, "body.rule.until"),
        ({"rule": {"freq": "monthly", "month_day": 0}}, "body.rule.month_day"),
    ],
)
def test_bad_input_names_the_field(
    db: Database, client: TestClient, change: dict[str, Any], path: str
) -> None:
    world = build_world(db, "alpha")
    body = _body(world, **{"start": f"{_next_year()}-03-01T18:00", **change})
    response = client.post(_url(world), headers=auth(world.tokens[Role.COACH]), json=body)
    assert response.status_code == 422, response.text
    paths = [field["path"] for field in response.json()["error"]["fields"]]
    assert any(p == path or p.startswith(path + ".") for p in paths), paths


def test_one_occurrence_edited_stays_edited(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    start = f"{_next_year()}-02-01T18:00"
    created = client.post(
        _url(world), headers=coach, json=_body(world, start=start, rule={"freq": "weekly"})
    )
    assert created.status_code == 201, created.text
    series_id = created.json()["series"]["id"]
    assert created.json()["series"]["materialised_until"] is not None  # open-ended
    occurrences = client.get(_url(world, f"/{series_id}/occurrences"), headers=coach).json()["data"]
    second = occurrences[1]
    moved = datetime.fromisoformat(second["scheduled_at"]) + timedelta(hours=1)
    edited = client.patch(
        f"/api/v1/orgs/{world.slug}/sessions/{second['id']}",
        headers=coach,
        json={"title": "Moved practice", "scheduled_at": moved.isoformat()},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["occurrence_edited"] is True
    assert edited.json()["occurrence_at"] == second["occurrence_at"]  # its place in the rule
    busy = HostBusy.get(HostBusy.session == second["id"])
    assert busy.starts_at == moved  # the host's time moved with it
    # A series change of the title from now on skips it; extension leaves it too.
    changed = client.patch(_url(world, f"/{series_id}"), headers=coach, json={"title": "Practice"})
    assert changed.status_code == 200, changed.text
    series = SessionSeries.get_by_id(series_id)
    later = utc_now() + timedelta(days=400)
    assert service.extend_series(db, series_id=series.id, now=later - timedelta(days=365)) > 0
    after = {s.id: s for s in _occurrences(series_id)}
    kept = after[Session.get_by_id(second["id"]).id]
    assert (kept.title, kept.scheduled_at, kept.occurrence_edited) == (
        "Moved practice",
        moved,
        True,
    )
    assert {s.title for s in after.values() if s.id != kept.id} == {"Practice"}


def test_this_and_following_leaves_earlier_occurrences_alone(db: Database) -> None:
    world = build_world(db, "alpha")
    outcome = _create(world, db, start="2027-03-01T18:00", rule={"freq": "weekly", "count": 6})
    sessions = _occurrences(outcome.series.id)
    scope = _scope(world)
    now = sessions[1].scheduled_at + timedelta(hours=3)  # the first two are past
    # A new title from the fourth on: the series splits there.
    split = service.update_series(
        db,
        scope=scope,
        series=outcome.series,
        data=SeriesUpdate(title="Late practice", effective_from=sessions[3].scheduled_at),
        now=now,
    )
    assert split.continued_by is not None and split.changed == 3
    old, new = split.series, split.continued_by
    assert old.rrule.endswith(f"UNTIL={sessions[2].scheduled_at.strftime('%Y%m%dT%H%M%SZ')}")
    assert new.rrule.endswith("COUNT=3") and new.continues_id == old.id
    titles = [(s.recurrence_id, s.title) for s in (Session.get_by_id(s.id) for s in sessions)]
    assert titles == [(old.id, "Evening practice")] * 3 + [(new.id, "Late practice")] * 3
    # A new time from the fifth on (of the continuing series): retimed, none before moved.
    registered = sessions[5]
    Session.update(participant_count=1).where(Session.id == registered.id).execute()
    retimed = service.update_series(
        db,
        scope=scope,
        series=new,
        data=SeriesUpdate.model_validate(
            {"start_time": "19:30", "effective_from": sessions[4].scheduled_at.isoformat()}
        ),
        now=now,
    )
    assert retimed.created == 2 and retimed.removed == 2
    live = [
        s for s in _occurrences_of_all(old, new, retimed.continued_by) if s.status != "cancelled"
    ]
    assert _walls(live, "America/New_York") == [
        "2027-03-01 18:00",
        "2027-03-08 18:00",
        "2027-03-15 18:00",
        "2027-03-22 18:00",
        "2027-03-29 19:30",
        "2027-04-05 19:30",
    ]
    # The one with a registration was cancelled (its people are told), the other removed.
    assert Session.get_by_id(registered.id).status == SessionStatus.CANCELLED
    assert Session.get_by_id(sessions[4].id).deleted_at is not None
    assert HostBusy.get_or_none(HostBusy.session == registered.id) is None
    assert HostBusy.select().where(HostBusy.host == world.user_ids[Role.HOST]).count() == 6


def _occurrences_of_all(*rows: SessionSeries | None) -> list[Session]:
    found = [s for row in rows if row is not None for s in _occurrences(row.id)]
    return sorted(found, key=lambda s: s.scheduled_at)


def test_cancel_this_and_following(db: Database) -> None:
    world = build_world(db, "alpha")
    outcome = _create(world, db, start="2027-03-01T18:00", rule={"freq": "weekly", "count": 5})
    sessions = _occurrences(outcome.series.id)
    now = sessions[0].scheduled_at + timedelta(days=1)
    # The fourth was edited on its own: cancelling from the third cancels it too.
    Session.update(occurrence_edited=True, title="Special").where(
        Session.id == sessions[3].id
    ).execute()
    cancelled = service.cancel_series(
        db,
        scope=_scope(world),
        series=outcome.series,
        data=SeriesCancel(effective_from=sessions[2].scheduled_at, reason="pitch closed"),
        now=now,
    )
    assert cancelled.removed == 3
    statuses = [Session.get_by_id(s.id).status for s in sessions]
    assert statuses == ["scheduled", "scheduled", "cancelled", "cancelled", "cancelled"]
    assert Session.get_by_id(sessions[4].id).cancel_reason == "pitch closed"
    assert HostBusy.select().where(HostBusy.host == world.user_ids[Role.HOST]).count() == 2
    assert "UNTIL=" in SessionSeries.get_by_id(outcome.series.id).rrule
    # Cancelling from before the first future one cancels the rest and the series.
    rest = service.cancel_series(
        db, scope=_scope(world), series=outcome.series, data=SeriesCancel(), now=now
    )
    assert rest.removed == 1  # the second; the first is past
    assert SessionSeries.get_by_id(outcome.series.id).cancelled_at is None  # one past remains


def test_extension_writes_a_taken_occurrence_as_cancelled(db: Database) -> None:
    world = build_world(db, "alpha")
    now = datetime(2027, 1, 1, tzinfo=UTC)
    data = SeriesCreate.model_validate(
        _body(world, start="2027-01-04T18:00", rule={"freq": "weekly"}, timezone="UTC")
    )
    outcome = service.create_series(db, scope=_scope(world), data=data, now=now, horizon_days=28)
    assert outcome.created == 4
    # Meanwhile the host took the time of the sixth (beyond the horizon then).
    sixth = datetime(2027, 2, 8, 18, tzinfo=UTC)
    other = Session.create(
        org=world.org,
        title="Away game",
        status=SessionStatus.SCHEDULED,
        host=world.user_ids[Role.HOST],
        scheduled_at=sixth + timedelta(minutes=30),
        duration_minutes=60,
    )
    HostBusy.create(
        org=world.org,
        host=world.user_ids[Role.HOST],
        starts_at=other.scheduled_at,
        ends_at=other.scheduled_at + timedelta(hours=1),
        kind="session",
        session=other,
    )
    later = now + timedelta(days=14)
    assert service.due_for_extension(now=later, horizon_days=28) == [outcome.series.id]
    assert service.extend_series(db, series_id=outcome.series.id, now=later, horizon_days=28) == 2
    assert service.extend_series(db, series_id=outcome.series.id, now=later, horizon_days=28) == 0
    sessions = _occurrences(outcome.series.id)
    assert [s.scheduled_at.date() for s in sessions] == [
        date(2027, 1, 4) + timedelta(weeks=n) for n in range(6)
    ]
    taken = sessions[5]
    assert taken.status == SessionStatus.CANCELLED and taken.cancel_reason is not None
    assert "Away game" not in taken.cancel_reason
    assert str(other.id) in taken.cancel_reason
    assert HostBusy.get_or_none(HostBusy.session == taken.id) is None


def test_series_routes_read_and_list(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    member, coach = auth(world.tokens[Role.MEMBER]), auth(world.tokens[Role.COACH])
    body = _body(world, start=f"{_next_year()}-05-03T07:15", rule={"freq": "daily", "count": 3})
    created = client.post(_url(world), headers=coach, json=body).json()["series"]
    assert created["occurrences"] == 3 and created["next_occurrence_at"] is not None
    listed = client.get(_url(world), headers=member).json()
    assert [s["id"] for s in listed["data"]] == [created["id"]]
    one = client.get(_url(world, f"/{created['id']}"), headers=member).json()
    assert one["rrule"] == "FREQ=DAILY;COUNT=3" and one["timezone"] == "America/New_York"
    cancelled = client.post(_url(world, f"/{created['id']}/cancel"), headers=coach, json={})
    assert cancelled.status_code == 200 and cancelled.json()["removed_occurrences"] == 3
    again = client.patch(_url(world, f"/{created['id']}"), headers=coach, json={"title": "X"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "series_cancelled"
