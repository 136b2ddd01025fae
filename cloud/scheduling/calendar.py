"""iCalendar feeds (RFC 5545) built with the ``icalendar`` library.

A series is one ``VEVENT`` with ``DTSTART;TZID=`` (its first occurrence's wall
time), the same ``RRULE`` the API expands, an ``EXDATE`` for each occurrence
cancelled or removed, and a ``RECURRENCE-ID`` event for each occurrence edited
on its own; a calendar app therefore computes exactly the instants the API
stores (both follow RFC 5545's gap and fold rules). Occurrences the rule no
longer gives (an edited one left behind by a split) and single sessions are
events of their own; bookings too. UIDs are stable (``series-{id}``,
``session-{id}``, ``booking-{id}`` ``@sideline``) so a refreshed feed updates
events instead of duplicating them. Each zone used gets its ``VTIMEZONE``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from icalendar import Calendar, Event, vRecur

from cloud.scheduling.recurrence import Series
from cloud.scheduling.zones import zone

__all__ = ["FeedBooking", "FeedOccurrence", "FeedSeries", "FeedSession", "build_feed"]

DOMAIN = "sideline"


@dataclass(frozen=True)
class FeedSession:
    id: UUID
    title: str
    starts_at: datetime
    minutes: int
    timezone: str
    description: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class FeedOccurrence:
    session: FeedSession
    occurrence_at: datetime  # where the rule put it
    cancelled: bool  # cancelled or removed: an EXDATE
    edited: bool  # moved or changed on its own: a RECURRENCE-ID event


@dataclass(frozen=True)
class FeedSeries:
    id: UUID
    title: str
    rule: Series
    minutes: int
    occurrences: Sequence[FeedOccurrence] = field(default_factory=tuple)
    description: str | None = None
    active: bool = True  # False: cancelled or replaced; only its living occurrences show


@dataclass(frozen=True)
class FeedBooking:
    id: UUID
    title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    url: str | None = None


def _local(instant: datetime, zone_name: str) -> datetime:
    return instant.astimezone(zone(zone_name))


def _event(uid: str, summary: str, start: datetime, end: datetime, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("summary", summary)
    event.add("dtstart", start)
    event.add("dtend", end)
    return event


def _session_event(session: FeedSession, stamp: datetime) -> Event:
    start = _local(session.starts_at, session.timezone)
    event = _event(
        f"session-{session.id}@{DOMAIN}",
        session.title,
        start,
        start + timedelta(minutes=session.minutes),
        stamp,
    )
    if session.description:
        event.add("description", session.description)
    if session.url:
        event.add("url", session.url)
    return event


def build_feed(
    *,
    name: str,
    series: Iterable[FeedSeries],
    sessions: Iterable[FeedSession],
    bookings: Iterable[FeedBooking],
    now: datetime,
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Sideline//Scheduling//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    first, last = now.date(), now.date()

    def seen(day: date) -> None:
        nonlocal first, last
        first, last = min(first, day), max(last, day)

    for item in series:
        if not item.active:
            for occurrence in item.occurrences:
                if not occurrence.cancelled:
                    calendar.add_component(_session_event(occurrence.session, now))
                    seen(occurrence.session.starts_at.date())
            continue
        rule = item.rule
        start = rule.start_wall.replace(tzinfo=zone(rule.zone_name))
        event = _event(
            f"series-{item.id}@{DOMAIN}",
            item.title,
            start,
            start + timedelta(minutes=item.minutes),
            now,
        )
        event.add("rrule", vRecur.from_ical(rule.rrule))
        if item.description:
            event.add("description", item.description)
        seen(start.date())
        seen(now.date() + timedelta(days=3 * 366))  # open-ended rules go on
        expected = set(rule.occurrences(before=now + timedelta(days=5 * 366)))
        exdates = sorted(
            _local(o.occurrence_at, rule.zone_name)
            for o in item.occurrences
            if o.cancelled and o.occurrence_at in expected
        )
        if exdates:
            event.add("exdate", exdates)
        calendar.add_component(event)
        for occurrence in item.occurrences:
            in_rule = occurrence.occurrence_at in expected
            if occurrence.cancelled or (in_rule and not occurrence.edited):
                continue  # an EXDATE, or the rule shows it as it is
            session_event = _session_event(occurrence.session, now)
            if in_rule:
                # The same event, this instance changed: same UID, RECURRENCE-ID.
                session_event["uid"] = event["uid"]
                session_event.add("recurrence-id", _local(occurrence.occurrence_at, rule.zone_name))
            calendar.add_component(session_event)
            seen(occurrence.session.starts_at.date())
    for session in sessions:
        calendar.add_component(_session_event(session, now))
        seen(session.starts_at.date())
    for booking in bookings:
        start = _local(booking.starts_at, booking.timezone)
        event = _event(
            f"booking-{booking.id}@{DOMAIN}",
            booking.title,
            start,
            _local(booking.ends_at, booking.timezone),
            now,
        )
        if booking.url:
            event.add("url", booking.url)
        calendar.add_component(event)
        seen(booking.starts_at.date())
    calendar.add_missing_timezones(
        first_date=date(first.year - 1, 1, 1), last_date=date(last.year + 1, 12, 31)
    )
    data: bytes = calendar.to_ical()
    return data
