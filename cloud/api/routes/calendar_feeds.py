"""Calendar feeds: make, list and revoke them (org), and the .ics itself (the token)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Response, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import CoachScope, DatabaseDep, org_scope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.calendar_feeds import FeedCreate, FeedCreated, FeedPublic, FeedsPublic
from cloud.api.services import calendar_feeds as service
from cloud.models import CalendarFeed

router = APIRouter(prefix="/calendar-feeds", route_class=DocumentedRoute, tags=["calendar feeds"])
public = APIRouter(tags=["calendar feeds"])


def feed_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], feed_id: Annotated[UUID, Path()]
) -> CalendarFeed:
    return service.get_feed(scope=scope, feed_id=feed_id)


FeedInOrg = Annotated[CalendarFeed, Depends(feed_in_org)]


def _public(row: CalendarFeed) -> FeedPublic:
    return FeedPublic(
        id=row.id,
        host_id=row.host_id,
        team_id=row.team_id,
        name=row.name,
        token_prefix=row.token_prefix,
        created_at=row.created_at,
    )


@router.get("")
def list_feeds(scope: CoachScope) -> FeedsPublic:
    rows = service.list_feeds(scope=scope)
    return FeedsPublic(data=[_public(row) for row in rows], count=len(rows))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_feed(scope: CoachScope, db: DatabaseDep, data: FeedCreate) -> FeedCreated:
    """A secret .ics URL of a host's schedule (theirs or, as an admin, anyone's) or of
    a team's; shown once."""
    row, token = service.create_feed(db, scope=scope, data=data)
    return FeedCreated(
        **_public(row).model_dump(), token=token, url=f"/api/v1/calendar/{token}.ics"
    )


@router.delete("/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_feed(scope: CoachScope, db: DatabaseDep, feed: FeedInOrg) -> None:
    """The URL stops working."""
    service.revoke_feed(db, scope=scope, feed=feed)


@public.get(
    "/calendar/{token}.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "An iCalendar (RFC 5545) feed."},
        404: {"description": "No such feed (revoked, or a wrong link)."},
    },
)
def calendar(token: Annotated[str, Path(max_length=200)]) -> Response:
    """The feed: each series with its RRULE and EXDATEs, single sessions, bookings."""
    feed = service.feed_by_token(token)
    return Response(
        service.render_feed(feed),
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
