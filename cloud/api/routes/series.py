"""Recurring sessions: create a series, read it and its occurrences, change or cancel
it from one occurrence on. One occurrence is edited or cancelled as a session."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from cloud.api.deps import CoachScope, DatabaseDep, GuestScope, MemberScope, RuntimeDep, SeriesInOrg
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.scheduling import Instant
from cloud.api.schemas.series import (
    SeriesCancel,
    SeriesCreate,
    SeriesPublic,
    SeriesPublicPage,
    SeriesResult,
    SeriesUpdate,
)
from cloud.api.schemas.sessions import SessionsPublic
from cloud.api.services import series as service
from cloud.api.services.sessions import session_public

router = APIRouter(prefix="/series", route_class=DocumentedRoute, tags=["series"])

_CONFLICTS: dict[int | str, dict[str, str]] = {
    409: {
        "description": "time_taken (fields list each occurrence the host has no time for), "
        "series_cancelled, series_over, capacity_below_registrations."
    }
}


def _result(outcome: service.SeriesOutcome) -> SeriesResult:
    rows = [outcome.series] + ([outcome.continued_by] if outcome.continued_by else [])
    views = service.series_public(rows)
    return SeriesResult(
        series=views[0],
        continued_by=views[1] if len(views) > 1 else None,
        changed_occurrences=outcome.changed,
        created_occurrences=outcome.created,
        removed_occurrences=outcome.removed,
    )


@router.get("")
def list_series(
    scope: MemberScope,
    host_id: UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SeriesPublicPage:
    """Series of the organisation, newest first."""
    rows, next_cursor = service.list_series(
        scope=scope, host_id=host_id, cursor=cursor, limit=limit
    )
    return SeriesPublicPage(
        data=service.series_public(rows), count=len(rows), next_cursor=next_cursor
    )


@router.post("", status_code=status.HTTP_201_CREATED, responses=_CONFLICTS)
def create_series(
    scope: CoachScope, db: DatabaseDep, runtime: RuntimeDep, data: SeriesCreate
) -> SeriesResult:
    """Create a recurring session: every occurrence is checked against the host's time
    and written, or none is."""
    outcome = service.create_series(
        db, scope=scope, data=data, horizon_days=runtime.settings.scheduling.horizon_days
    )
    return _result(outcome)


@router.get("/{series_id}")
def read_series(scope: MemberScope, series: SeriesInOrg) -> SeriesPublic:
    return service.series_public([series])[0]


@router.patch("/{series_id}", responses=_CONFLICTS)
def update_series(
    scope: CoachScope,
    db: DatabaseDep,
    runtime: RuntimeDep,
    series: SeriesInOrg,
    data: SeriesUpdate,
) -> SeriesResult:
    """Change this and the following occurrences (from ``effective_from``, default now).
    Past, live and individually edited occurrences are left as they are."""
    outcome = service.update_series(
        db,
        scope=scope,
        series=series,
        data=data,
        horizon_days=runtime.settings.scheduling.horizon_days,
    )
    return _result(outcome)


@router.post("/{series_id}/cancel", responses=_CONFLICTS)
def cancel_series(
    scope: CoachScope, db: DatabaseDep, series: SeriesInOrg, data: SeriesCancel | None = None
) -> SeriesResult:
    """Cancel this and the following occurrences (from ``effective_from``, default now)."""
    outcome = service.cancel_series(db, scope=scope, series=series, data=data or SeriesCancel())
    return _result(outcome)


@router.get("/{series_id}/occurrences")
def list_occurrences(
    scope: GuestScope,
    series: SeriesInOrg,
    since: Annotated[Instant | None, Query(description="scheduled_at >= this.")] = None,
    until: Annotated[Instant | None, Query(description="scheduled_at < this.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> SessionsPublic:
    """The series' occurrence sessions in time order (cancelled ones included)."""
    rows = service.series_occurrences(
        scope=scope, series=series, since=since, until=until, limit=limit
    )
    return SessionsPublic(data=[session_public(row) for row in rows], count=len(rows))
