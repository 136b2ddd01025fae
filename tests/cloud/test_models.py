"""The data model behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from peewee import Database, IntegrityError

from cloud.models import (
    Clip,
    ClipStatus,
    Log,
    LogOrigin,
    Membership,
    Role,
    Session,
    SessionDevice,
    SessionStatus,
    utc_now,
)
from protocol import new_id
from tests.cloud.factories import make_device, make_org, make_session, make_user


def _log(
    org_id: object, session: Session | None, at: datetime, **fields: object
) -> dict[str, object]:
    return {
        "id": fields.pop("id", new_id()),
        "org": org_id,
        "session": session,
        "origin": LogOrigin.DEVICE,
        "source": "marker",
        "type": "marker",
        "occurred_at": at,
        **fields,
    }


def test_times_come_back_as_the_same_aware_utc_instant(db: Database) -> None:
    org = make_org()
    at = datetime(2026, 3, 1, 10, 15, 30, 123000, tzinfo=timezone(timedelta(hours=2)))
    session = make_session(org, scheduled_at=at)
    loaded = Session.get_by_id(session.id)
    assert loaded.scheduled_at == at
    assert loaded.scheduled_at.tzinfo == UTC
    assert loaded.scheduled_at.hour == 8


def test_a_naive_time_is_refused(db: Database) -> None:
    org = make_org()
    with pytest.raises(ValueError, match="naive datetime"):
        make_session(org, scheduled_at=datetime(2026, 3, 1, 10, 0))


def test_enum_columns_refuse_unknown_values_in_the_database(db: Database) -> None:
    org = make_org()
    session = make_session(org)
    with pytest.raises(ValueError, match="not a valid SessionStatus"):
        Session.update(status="InProgress").where(Session.id == session.id).execute()
    with pytest.raises(IntegrityError), db.atomic():  # and the database itself refuses it
        db.execute_sql(
            f"UPDATE session SET status = 'InProgress' WHERE title = {db.param}", (session.title,)
        )
    assert Session.get_by_id(session.id).status is SessionStatus.DRAFT


def test_enums_load_as_enum_members(db: Database) -> None:
    org, user = make_org(), make_user()
    Membership.create(org=org, user=user, role="coach")
    membership = Membership.get()
    assert membership.role is Role.COACH


def test_capacity_check_refuses_more_participants_than_places(db: Database) -> None:
    org = make_org()
    session = make_session(org, max_participants=2, participant_count=2)
    with pytest.raises(IntegrityError), db.atomic():
        Session.update(participant_count=Session.participant_count + 1).where(
            Session.id == session.id
        ).execute()
    assert Session.get_by_id(session.id).participant_count == 2


def test_a_paid_session_needs_a_price_and_currency(db: Database) -> None:
    org = make_org()
    with pytest.raises(IntegrityError), db.atomic():
        make_session(org, is_free=False)
    paid = make_session(org, is_free=False, price_minor=1500, currency="EUR")
    assert (paid.price_minor, paid.currency) == (1500, "EUR")


def test_one_every_camera_link_per_session_and_device(db: Database) -> None:
    org = make_org()
    device = make_device(org)
    session = make_session(org, devices=[device])
    SessionDevice.create(session=session, device=device, camera_id="main")
    with pytest.raises(IntegrityError), db.atomic():
        SessionDevice.create(session=session, device=device)  # a second "every camera"
    assert SessionDevice.select().where(SessionDevice.session == session).count() == 2


def test_device_record_keeps_its_uuid7_and_insert_is_idempotent(db: Database) -> None:
    org = make_org()
    rows = [_log(org.id, None, utc_now() + timedelta(seconds=i)) for i in range(50)]
    with db.atomic():
        Log.insert_many(rows).on_conflict_ignore().execute()
    with db.atomic():
        Log.insert_many(rows).on_conflict_ignore().execute()  # a redelivery
    assert Log.select().count() == 50
    assert {row.id for row in Log.select()} == {row["id"] for row in rows}


def test_timeline_keyset_pages_neither_skip_nor_repeat(db: Database) -> None:
    org = make_org()
    session = make_session(org)
    base = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    # Many logs share a timestamp: the id breaks ties, in the same order on both databases.
    rows = [_log(org.id, session, base + timedelta(seconds=i // 7)) for i in range(70)]
    Log.insert_many(rows).execute()
    expected = sorted((row["occurred_at"], row["id"]) for row in rows)
    seen: list[tuple[datetime, object]] = []
    cursor: tuple[datetime, object] | None = None
    while True:
        query = Log.select(Log.occurred_at, Log.id).where(Log.session == session)
        if cursor is not None:
            query = query.where(
                (Log.occurred_at > cursor[0])
                | ((Log.occurred_at == cursor[0]) & (Log.id > cursor[1]))
            )
        page = [
            (log.occurred_at, log.id) for log in query.order_by(Log.occurred_at, Log.id).limit(9)
        ]
        if not page:
            break
        seen.extend(page)
        cursor = page[-1]
    assert seen == expected


def test_clips_start_pending_and_keep_their_tags(db: Database) -> None:
    org = make_org()
    device = make_device(org)
    now = utc_now()
    clip = Clip.create(
        id=new_id(),
        org=org,
        device=device,
        camera_id="main",
        started_at=now - timedelta(seconds=20),
        ended_at=now + timedelta(seconds=10),
        duration_ms=30_000,
        width=1920,
        height=1080,
        codec="h264",
        content_type="video/mp4",
        object_key=f"{org.slug}/{device.id}/clip.mp4",
        size_bytes=123,
        sha256="a" * 64,
        triggers=[{"source": "button", "at": "2026-03-01T10:00:00.000Z"}],
        trigger_source="button",
        triggered_at=now,
        tags=["goal", "u12"],
    )
    loaded = Clip.get_by_id(clip.id)
    assert loaded.status is ClipStatus.PENDING
    assert loaded.tags == ["goal", "u12"]
    assert loaded.triggers[0]["source"] == "button"
    assert loaded.device.s3_prefix == f"{org.slug}/{device.id}/"
