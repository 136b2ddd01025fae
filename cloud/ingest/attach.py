"""Which session a device's record belongs to, when the device did not say.

A session's window on a device is where records land:

- live (started, not ended): ``[started_at, open)``
- ended: ``[started_at, ended_at]``
- scheduled, not started: ``[scheduled_at, scheduled_at + duration_minutes]``

on every device linked to it (``session_device``; a link naming one camera
only takes that camera's records). Drafts, cancelled and deleted sessions have
no window. When windows overlap, the one that started last wins: it is the more
specific. The ingest uses this for records that arrive without a session; the
API calls :func:`attach_unsessioned_records` when a session gains a device or
its times change, for records that arrived before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from cloud.models import (
    Clip,
    DetectionEventRecord,
    Log,
    Session,
    SessionDevice,
    SessionStatus,
)

__all__ = [
    "SessionWindow",
    "attach_unsessioned_records",
    "pick_session",
    "sessions_of_org",
    "windows_for_device",
]

_WITH_WINDOWS = (SessionStatus.SCHEDULED, SessionStatus.LIVE, SessionStatus.ENDED)


@dataclass(frozen=True, slots=True)
class SessionWindow:
    session_id: UUID
    start: datetime
    end: datetime | None  # None: still open
    camera_id: str | None  # None: every camera of the device

    def contains(self, at: datetime, camera_id: str | None) -> bool:
        if self.camera_id is not None and camera_id != self.camera_id:
            return False
        return self.start <= at and (self.end is None or at <= self.end)


def _window_of(session: Session | _SessionTimes, camera_id: str | None) -> SessionWindow | None:
    if session.started_at is not None:
        if session.status == SessionStatus.LIVE:
            return SessionWindow(session.id, session.started_at, None, camera_id)
        if session.ended_at is not None:
            return SessionWindow(session.id, session.started_at, session.ended_at, camera_id)
        return None
    if session.scheduled_at is not None and session.duration_minutes:
        return SessionWindow(
            session.id,
            session.scheduled_at,
            _plus_minutes(session.scheduled_at, session.duration_minutes),
            camera_id,
        )
    return None


_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def _plus_minutes(start: datetime, minutes: int) -> datetime:
    """``start`` + ``minutes``, or the last representable instant for a window that
    would end after it (a session scheduled at the end of year 9999)."""
    try:
        return start + timedelta(minutes=minutes)
    except OverflowError:
        return _END_OF_TIME


@dataclass(frozen=True, slots=True)
class _SessionTimes:
    id: UUID
    status: SessionStatus
    started_at: datetime | None
    ended_at: datetime | None
    scheduled_at: datetime | None
    duration_minutes: int | None


def windows_for_device(device_id: str, earliest: datetime, latest: datetime) -> list[SessionWindow]:
    """Windows on ``device_id`` that overlap ``[earliest, latest]`` (one narrow query:
    the ingest asks this for every group of records)."""
    links = (
        SessionDevice.select(
            Session.id,
            Session.status,
            Session.started_at,
            Session.ended_at,
            Session.scheduled_at,
            Session.duration_minutes,
            SessionDevice.camera_id,
        )
        .join(Session)
        .where(
            (SessionDevice.device == device_id)
            & Session.status.in_(_WITH_WINDOWS)
            & Session.deleted_at.is_null()
            & (
                (Session.started_at <= latest)
                | (Session.started_at.is_null() & (Session.scheduled_at <= latest))
            )
        )
        .tuples()
    )
    windows = []
    for row in cast(Iterable[tuple[Any, ...]], links):
        window = _window_of(_SessionTimes(*row[:6]), row[6])
        if window is not None and (window.end is None or window.end >= earliest):
            windows.append(window)
    return windows


def pick_session(windows: list[SessionWindow], at: datetime, camera_id: str | None) -> UUID | None:
    best: SessionWindow | None = None
    for window in windows:
        if window.contains(at, camera_id) and (best is None or window.start > best.start):
            best = window
    return best.session_id if best is not None else None


def sessions_of_org(org_id: UUID, session_ids: set[UUID]) -> set[UUID]:
    """Of ``session_ids``, those that exist in ``org_id`` and are not deleted."""
    if not session_ids:
        return set()
    query = Session.select(Session.id).where(
        Session.id.in_(list(session_ids)) & (Session.org == org_id) & Session.deleted_at.is_null()
    )
    return {row.id for row in query}


def attach_unsessioned_records(session_id: UUID) -> int:
    """Give ``session_id`` the records of its devices, inside its window, that have none.

    Returns how many records were attached. Call it inside the transaction that
    changed the session's devices or times.
    """
    session = Session.get_by_id(session_id)
    links = SessionDevice.select().where(SessionDevice.session == session_id)
    attached = 0
    for link in links:
        window = _window_of(session, link.camera_id)
        if window is None:
            continue
        for model, time_column in (
            (Log, Log.occurred_at),
            (DetectionEventRecord, DetectionEventRecord.occurred_at),
            (Clip, Clip.triggered_at),
        ):
            condition = (
                (model.device == link.device_id)
                & model.session.is_null()
                & (time_column >= window.start)
            )
            if window.end is not None:
                condition &= time_column <= window.end
            if window.camera_id is not None:
                condition &= model.camera_id == window.camera_id
            attached += model.update(session=session_id).where(condition).execute()
    return attached
