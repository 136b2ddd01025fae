"""Calendar feeds: secret .ics URLs of a host's or a team's schedule."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from cloud.api.schemas.common import Input, Output

__all__ = ["FeedCreate", "FeedCreated", "FeedPublic", "FeedsPublic"]


class FeedCreate(Input):
    """One of ``host_id`` (their sessions and bookings) or ``team_id`` (its sessions)."""

    host_id: UUID | None = None
    team_id: UUID | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)


class FeedPublic(Output):
    id: UUID
    host_id: UUID | None
    team_id: UUID | None
    name: str
    token_prefix: str = Field(description="The first characters of the token, to tell feeds apart.")
    created_at: datetime


class FeedCreated(FeedPublic):
    token: str = Field(description="Shown once; the URL is the only key to the feed.")
    url: str = Field(description="Subscribe to this: /api/v1/calendar/{token}.ics")


class FeedsPublic(Output):
    data: list[FeedPublic]
    count: int
