"""Calendar feeds: a secret ``.ics`` URL per host or team that phones subscribe to.

The feed (``cloud.scheduling.calendar``) shows the host's or team's sessions —
each series once, with its RRULE, EXDATEs and edited occurrences — and, for a
host, their bookings, so a phone's calendar shows the times the API shows.
The token is the only credential: made once, stored hashed, revocable.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from datetime import datetime, timedelta
from uuid import UUID

from peewee import JOIN, Database

from cloud.api.access.scope import OrgScope
from cloud.api.schemas.calendar_feeds import FeedCreate
from cloud.api.services.references import host_in_org, team_in_org
from cloud.db import write_transaction
from cloud.errors import Forbidden, NotFound
from cloud.models import (
    Booking,
    BookingStatus,
    CalendarFeed,
    Role,
    Session,
    SessionSeries,
    SessionStatus,
    User,
    utc_now,
)
from cloud.scheduling.busy import DEFAULT_SESSION_MINUTES
from cloud.scheduling.calendar import (
    FeedBooking,
    FeedOccurrence,
    FeedSeries,
    FeedSession,
    build_feed,
)
from cloud.scheduling.errors import invalid
from cloud.scheduling.recurrence import Series

__all__ = [
    "PAST_DAYS",
    "create_feed",
    "feed_by_token",
    "get_feed",
    "list_feeds",
    "render_feed",
    "revoke_feed",
]

PAST_DAYS = 90
"""Single sessions and bookings older than this stay out of the feed."""
_PREFIX = "cal_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_feed(db: Database, *, scope: OrgScope, data: FeedCreate) -> tuple[CalendarFeed, str]:
    """A feed and its token (shown once). A host's feed (it shows their bookings'
    guests) is made by the host or an admin; a team's by a coach."""
    if (data.host_id is None) == (data.team_id is None):
        raise invalid("body.host_id", "one_of", "give host_id or team_id (one of them)")
    host = team = None
    if data.host_id is not None:
        host = host_in_org(scope=scope, user_id=data.host_id)
        if host.id != scope.user_id and not scope.at_least(Role.ADMIN):
            raise Forbidden("only the host or an admin makes a host's calendar feed")
    else:
        assert data.team_id is not None
        team = team_in_org(scope=scope, team_id=data.team_id)
    token = _PREFIX + secrets.token_urlsafe(24)
    name = data.name or (f"{host.name} (Sideline)" if host else f"{team.name} (Sideline)")  # type: ignore[union-attr]
    with write_transaction(db):
        feed: CalendarFeed = CalendarFeed.create(
            org=scope.org_id,
            host=host.id if host else None,
            team=team.id if team else None,
            name=name,
            token_hash=_hash(token),
            token_prefix=token[:10],
            created_by=scope.user_id,
        )
    return feed, token


def _visible(scope: OrgScope) -> object:
    condition = CalendarFeed.org == scope.org_id
    if not scope.at_least(Role.ADMIN):
        condition &= (CalendarFeed.created_by == scope.user_id) | (
            CalendarFeed.host == scope.user_id
        )
    return condition


def list_feeds(*, scope: OrgScope) -> list[CalendarFeed]:
    """Admins see every feed; others the ones they made or that show them."""
    return list(
        CalendarFeed.select()
        .where(_visible(scope) & CalendarFeed.revoked_at.is_null())
        .order_by(CalendarFeed.created_at)
    )


def get_feed(*, scope: OrgScope, feed_id: UUID) -> CalendarFeed:
    row = CalendarFeed.get_or_none((CalendarFeed.id == feed_id) & _visible(scope))
    if row is None or row.revoked_at is not None:
        raise NotFound("calendar feed", feed_id)
    found: CalendarFeed = row
    return found


def revoke_feed(db: Database, *, scope: OrgScope, feed: CalendarFeed) -> None:
    with write_transaction(db):
        CalendarFeed.update(revoked_at=utc_now()).where(CalendarFeed.id == feed.id).execute()


def feed_by_token(token: str) -> CalendarFeed:
    row = CalendarFeed.get_or_none(
        (CalendarFeed.token_hash == _hash(token)) & CalendarFeed.revoked_at.is_null()
    )
    if row is None:
        raise NotFound("calendar feed", message="no such calendar feed (revoked, or a wrong link)")
    found: CalendarFeed = row
    return found


def _feed_session(session: Session) -> FeedSession:
    return FeedSession(
        id=session.id,
        title=session.title,
        starts_at=session.scheduled_at,
        minutes=session.duration_minutes or DEFAULT_SESSION_MINUTES,
        timezone=session.timezone,
        description=session.description,
        url=session.meeting_url,
    )


def render_feed(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    now = now or utc_now()
    past = now - timedelta(days=PAST_DAYS)
    whose = Session.host == feed.host_id if feed.host_id else Session.team == feed.team_id
    mine = (Session.org == feed.org_id) & whose & Session.scheduled_at.is_null(False)
    singles = [
        _feed_session(row)
        for row in Session.select()
        .where(
            mine
            & Session.recurrence_id.is_null()
            & Session.deleted_at.is_null()
            & (Session.status != SessionStatus.CANCELLED)
            & (Session.scheduled_at >= past)
        )
        .order_by(Session.scheduled_at)
    ]
    occurrences: dict[UUID | None, list[FeedOccurrence]] = defaultdict(list)
    for row in Session.select().where(mine & Session.recurrence_id.is_null(False)):
        occurrences[row.recurrence_id].append(
            FeedOccurrence(
                session=_feed_session(row),
                occurrence_at=row.occurrence_at or row.scheduled_at,
                cancelled=row.status == SessionStatus.CANCELLED or row.deleted_at is not None,
                edited=bool(row.occurrence_edited),
            )
        )
    series = (
        [
            FeedSeries(
                id=row.id,
                title=row.title,
                rule=Series(datetime.fromisoformat(row.start_local), row.timezone, row.rrule),
                minutes=row.duration_minutes,
                occurrences=occurrences[row.id],
                description=row.description,
                active=row.cancelled_at is None,
            )
            for row in SessionSeries.select().where(SessionSeries.id.in_(list(occurrences)))
        ]
        if occurrences
        else []
    )
    booked: list[FeedBooking] = []
    if feed.host_id is not None:
        for booking in (
            Booking.select(Booking, User)
            .join(User, on=(Booking.guest == User.id), join_type=JOIN.LEFT_OUTER)
            .where(
                (Booking.org == feed.org_id)
                & (Booking.host == feed.host_id)
                & (Booking.status != BookingStatus.CANCELLED)
                & (Booking.starts_at >= past)
            )
        ):
            person = booking.guest if booking.guest_id is not None else None
            guest = booking.guest_name or (person.name if person is not None else "a guest")
            booked.append(
                FeedBooking(
                    id=booking.id,
                    title=f"Meeting with {guest}",
                    starts_at=booking.starts_at,
                    ends_at=booking.ends_at,
                    timezone=booking.timezone,
                    url=booking.meeting_url,
                )
            )
    return build_feed(name=feed.name, series=series, sessions=singles, bookings=booked, now=now)
