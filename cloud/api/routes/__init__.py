"""The API's routers, collected in one place.

Everything of an organisation hangs under ``/orgs/{org}`` on ``org_router``,
whose dependency resolves (and checks) the caller's scope before any handler.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from cloud.api.deps import org_scope
from cloud.api.routes import (
    account,
    availability,
    bookings,
    calendar_feeds,
    clips,
    commands,
    forms,
    guest,
    logs,
    members,
    orgs,
    participants,
    playlists,
    reports,
    series,
    sessions,
    share_links,
    shared,
    teams,
    timeline,
    tokens,
    webhooks,
)

__all__ = ["api_router", "page_router"]

page_router = shared.page_router  # the share page and its assets (outside /api/v1)

_ORG_PREFIX = "/orgs/{org}"
org_router = APIRouter(prefix=_ORG_PREFIX, dependencies=[Depends(org_scope)])
# Requests are matched against routes in order: the busiest (timeline, sessions) first.
ORDER = (
    timeline,
    sessions,
    logs,
    clips,
    participants,
    commands,
    series,
    availability,
    bookings,
    reports,
    playlists,
    share_links,
    forms,
    teams,
    members,
    tokens,
    webhooks,
    calendar_feeds,
)
for module in ORDER:
    org_router.include_router(module.router)

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(account.router)
api_router.include_router(guest.router)  # signed links: no token, no organisation in the path
api_router.include_router(calendar_feeds.public)  # the .ics: its secret URL is its key
api_router.include_router(shared.router)  # a share link's token is its only credential
# The organisation's own routes have an empty path, so they take the prefix here.
api_router.include_router(orgs.router, prefix=_ORG_PREFIX, dependencies=[Depends(org_scope)])
api_router.include_router(org_router)
