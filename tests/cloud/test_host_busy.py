"""The database itself refuses two overlapping busy rows of one host (PostgreSQL's
exclusion constraint, SQLite's triggers), whatever the code above it checked."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from peewee import Database, IntegrityError

from cloud.models import BusyKind, HostBusy, utc_now
from tests.cloud.factories import make_org, make_user


def _busy(org: object, host: object, start: datetime, minutes: int) -> HostBusy:
    row: HostBusy = HostBusy.create(
        org=org, host=host, starts_at=start, ends_at=start + timedelta(minutes=minutes),
        kind=BusyKind.BOOKING,
    )  # fmt: skip
    return row


@pytest.mark.parametrize(
    ("offset", "minutes"),
    [(0, 60), (30, 60), (-30, 60), (10, 5), (-60, 180)],
    ids=["same", "later", "earlier", "inside", "around"],
)
def test_an_overlap_is_refused(db: Database, offset: int, minutes: int) -> None:
    org, host = make_org(), make_user()
    start = utc_now().replace(microsecond=0) + timedelta(days=1)
    _busy(org, host, start, 60)
    with pytest.raises(IntegrityError, match="host_busy_no_overlap"), db.atomic():
        _busy(org, host, start + timedelta(minutes=offset), minutes)
    assert HostBusy.select().count() == 1


def test_touching_ranges_and_other_hosts_are_not_overlaps(db: Database) -> None:
    org, host, other = make_org(), make_user(), make_user()
    start = utc_now().replace(microsecond=0) + timedelta(days=1)
    _busy(org, host, start, 60)
    _busy(org, host, start + timedelta(minutes=60), 30)  # starts where the first ends
    _busy(org, host, start - timedelta(minutes=30), 30)  # ends where the first starts
    _busy(org, other, start, 60)  # another host
    assert HostBusy.select().count() == 4


def test_moving_a_row_onto_another_is_refused(db: Database) -> None:
    org, host = make_org(), make_user()
    start = utc_now().replace(microsecond=0) + timedelta(days=1)
    _busy(org, host, start, 60)
    later = _busy(org, host, start + timedelta(hours=2), 60)
    with pytest.raises(IntegrityError, match="host_busy_no_overlap"), db.atomic():
        HostBusy.update(starts_at=start + timedelta(minutes=30)).where(
            HostBusy.id == later.id
        ).execute()
    HostBusy.update(starts_at=start + timedelta(hours=1)).where(HostBusy.id == later.id).execute()


def test_an_empty_range_is_refused(db: Database) -> None:
    org, host = make_org(), make_user()
    with pytest.raises(IntegrityError), db.atomic():
        _busy(org, host, utc_now(), 0)
