"""A hypothesis state machine: whatever sequence of bookings, cancellations,
reschedules, series created, edited and cancelled, and single occurrences moved,
no two of a host's confirmed bookings and live sessions ever overlap (each booking
with its buffers), and ``host_busy`` holds exactly them. Checked on both databases
by reading the bookings and sessions themselves, not only the busy table."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from peewee import Database

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.availability import SlotCreate
from cloud.api.schemas.bookings import BookingCreate, BookingReschedule
from cloud.api.schemas.series import RuleIn, SeriesCancel, SeriesCreate, SeriesUpdate
from cloud.api.schemas.sessions import SessionUpdate
from cloud.api.services import availability, bookings, series, sessions
from cloud.api.services.accounts import add_membership, create_organisation, find_or_create_user
from cloud.errors import DomainError
from cloud.models import (
    Booking,
    BookingStatus,
    HostBusy,
    MeetingSlot,
    Role,
    Session,
    SessionSeries,
    SessionStatus,
)
from cloud.scheduling.recurrence import Frequency
from tests.cloud.api.conftest import empty_tables

NOW = datetime(2030, 1, 1, tzinfo=UTC)  # a Tuesday; every service call is told this is now
DAY0 = NOW.date() + timedelta(days=1)
SECRET = b"state-machine"
HOURS = st.integers(min_value=8, max_value=18)
DAYS = st.integers(min_value=0, max_value=6)


def _overlapping(intervals: list[tuple[datetime, datetime, str]]) -> list[tuple[str, str]]:
    ordered = sorted(intervals)
    return [(a[2], b[2]) for a, b in itertools.pairwise(ordered) if b[0] < a[1]]


class Scheduling(RuleBasedStateMachine):
    booked = Bundle("booked")
    made_series = Bundle("made_series")

    def __init__(self) -> None:
        super().__init__()
        self.db: Database = DATABASE[0]
        empty_tables(self.db)
        org = create_organisation(self.db, slug="machine", name="Machine")
        self.host = find_or_create_user(self.db, email="host@m.example", name="Host")
        guest = find_or_create_user(self.db, email="guest@m.example", name="Guest")
        add_membership(self.db, org=org, user=self.host, role=Role.HOST)
        add_membership(self.db, org=org, user=guest, role=Role.MEMBER)
        self.host_scope = OrgScope(org=org, user=self.host, role=Role.HOST)
        self.guest_scope = OrgScope(org=org, user=guest, role=Role.MEMBER)
        self.slots: list[MeetingSlot] = [
            availability.create_slot(
                self.db,
                scope=self.host_scope,
                data=SlotCreate(
                    day_of_week=weekday,
                    start_time=time(start),
                    end_time=time(20),
                    duration_minutes=minutes,
                    timezone="UTC",
                    buffer_after_minutes=buffer,
                    booking_window_days=30,
                ),
            )
            for weekday in range(7)
            for start, minutes, buffer in ((8, 60, 0), (8, 45, 15))
        ]

    def _slot_for(self, day: int, kind: int) -> MeetingSlot:
        weekday = (DAY0 + timedelta(days=day)).weekday()
        return self.slots[weekday * 2 + kind]

    def _try(self, call: Any) -> Any:
        try:
            return call()
        except DomainError:
            return None  # refused (taken, limits, not a slot time, ...): also fine

    @rule(
        target=booked, day=DAYS, hour=HOURS, minute=st.sampled_from([0, 45]), kind=st.integers(0, 1)
    )
    def book(self, day: int, hour: int, minute: int, kind: int) -> Any:
        slot = self._slot_for(day, kind)
        start = datetime.combine(DAY0 + timedelta(days=day), time(hour, minute), UTC)
        data = BookingCreate(slot_id=slot.id, start=start)
        outcome = self._try(
            lambda: bookings.create_booking(
                self.db, scope=self.guest_scope, data=data, secret=SECRET, now=NOW
            )
        )
        return outcome.booking.id if outcome is not None else None

    @rule(booking_id=booked)
    def cancel(self, booking_id: Any) -> None:
        if booking_id is None:
            return
        row = Booking.get_by_id(booking_id)
        self._try(
            lambda: bookings.cancel_booking(self.db, scope=self.guest_scope, booking=row, now=NOW)
        )

    @rule(target=booked, booking_id=booked, day=DAYS, hour=HOURS)
    def reschedule(self, booking_id: Any, day: int, hour: int) -> Any:
        if booking_id is None:
            return None
        row = Booking.get_by_id(booking_id)
        slot = self._slot_for(day, 0)
        start = datetime.combine(DAY0 + timedelta(days=day), time(hour), UTC)
        outcome = self._try(
            lambda: bookings.reschedule_booking(
                self.db, scope=self.guest_scope, booking=row, secret=SECRET, now=NOW,
                data=BookingReschedule(start=start, slot_id=slot.id),
            )
        )  # fmt: skip
        return outcome.booking.id if outcome is not None else None

    @rule(target=made_series, day=DAYS, hour=HOURS, minutes=st.sampled_from([30, 90]))
    def create_series(self, day: int, hour: int, minutes: int) -> Any:
        data = SeriesCreate(
            title="Class",
            host_id=self.host.id,
            start=datetime.combine(DAY0 + timedelta(days=day), time(hour)),
            timezone="UTC",
            duration_minutes=minutes,
            rule=RuleIn(freq=Frequency.DAILY, interval=2, count=3),
        )
        outcome = self._try(
            lambda: series.create_series(self.db, scope=self.host_scope, data=data, now=NOW)
        )
        return outcome.series.id if outcome is not None else None

    @rule(series_id=made_series, hour=HOURS, index=st.integers(0, 2))
    def retime_series(self, series_id: Any, hour: int, index: int) -> None:
        if series_id is None:
            return
        row = SessionSeries.get_by_id(series_id)
        effective = NOW + timedelta(days=index)
        self._try(
            lambda: series.update_series(
                self.db, scope=self.host_scope, series=row, now=NOW,
                data=SeriesUpdate(start_time=time(hour), effective_from=effective),
            )
        )  # fmt: skip

    @rule(series_id=made_series, index=st.integers(0, 4))
    def cancel_series(self, series_id: Any, index: int) -> None:
        if series_id is None:
            return
        row = SessionSeries.get_by_id(series_id)
        effective = NOW + timedelta(days=index)
        self._try(
            lambda: series.cancel_series(
                self.db, scope=self.host_scope, series=row, now=NOW,
                data=SeriesCancel(effective_from=effective),
            )
        )  # fmt: skip

    @rule(series_id=made_series, hour=HOURS)
    def move_one_occurrence(self, series_id: Any, hour: int) -> None:
        if series_id is None:
            return
        first = (
            Session.select()
            .where(
                (Session.recurrence_id == series_id) & (Session.status == SessionStatus.SCHEDULED)
            )
            .order_by(Session.scheduled_at)
            .first()
        )
        if first is None:
            return
        moved = first.scheduled_at.replace(hour=hour)
        self._try(
            lambda: sessions.update_session(
                self.db, scope=self.host_scope, session=first,
                data=SessionUpdate(scheduled_at=moved),
            )
        )  # fmt: skip

    @invariant()
    def the_host_is_never_in_two_places(self) -> None:
        intervals: list[tuple[datetime, datetime, str]] = []
        for row in Booking.select().where(Booking.status == BookingStatus.CONFIRMED):
            slot = MeetingSlot.get_by_id(row.slot_id)
            intervals.append(
                (
                    row.starts_at - timedelta(minutes=slot.buffer_before_minutes),
                    row.ends_at + timedelta(minutes=slot.buffer_after_minutes),
                    f"booking {row.id}",
                )
            )
        held = Session.select().where(
            (Session.host == self.host.id)
            & Session.deleted_at.is_null()
            & (Session.status != SessionStatus.CANCELLED)
        )
        for session in held:
            assert session.scheduled_at is not None and session.duration_minutes is not None
            intervals.append(
                (
                    session.scheduled_at,
                    session.scheduled_at + timedelta(minutes=session.duration_minutes),
                    f"session {session.id}",
                )
            )
        assert _overlapping(intervals) == []
        busy = sorted((b.starts_at, b.ends_at) for b in HostBusy.select())
        assert busy == sorted((start, end) for start, end, _ in intervals)


DATABASE: list[Database] = []


def test_no_sequence_of_changes_double_books_a_host(db: Database) -> None:
    DATABASE[:] = [db]
    run_state_machine_as_test(
        Scheduling,
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            database=None,
        ),
    )


pytestmark = pytest.mark.timeout(240)
