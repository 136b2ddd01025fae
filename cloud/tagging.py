"""Logs become clips: asking a session's devices for a range, re-trims, swapping them in.

One way for every range clip the cloud asks for: a coach's log whose form has
clip settings, a device's tag (the other boxes of its session), a range the
coach picks ("the last 2 minutes") and a re-trim all become ``clip_range``
commands (:class:`protocol.ClipRange`) sent through
:class:`cloud.devices.control.DeviceControl`, one per device of the session,
each recorded as a :class:`cloud.models.Command` (with the log it is for), so
that a refusal ("no longer on this box", "camera offline") is visible on it.

A log is claimed before its devices are asked (``clips_requested_at`` set by a
conditional update), so the API and the ingest's sweeper never ask twice. A
re-trim names the clip it replaces; when the new clip is verified
(:func:`promote_replacement`, called by the ingest's verifier) the old one is
marked replaced (it stays readable by id, with both ids linked), and its
title, tags, playlist places and share links move to the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from peewee import JOIN

from cloud.devices.control import DeviceControl
from cloud.models import (
    Clip,
    Command,
    Device,
    DeviceStatus,
    Log,
    PlaylistItem,
    Session,
    SessionDevice,
    SessionStatus,
    ShareLink,
    utc_now,
)
from protocol import ClipRange

__all__ = [
    "TAG_SESSION_STATUSES",
    "DeviceTarget",
    "device_limits",
    "pending_tag_logs",
    "promote_replacement",
    "request_log_clips",
    "request_range",
    "session_targets",
]

log = logging.getLogger(__name__)

TAG_SESSION_STATUSES = (SessionStatus.LIVE, SessionStatus.ENDED)
"""A session whose devices may be asked for clips: it has been filmed."""


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    device_id: str
    camera_id: str | None  # None: every camera of the device


def session_targets(
    session_id: UUID, *, device_id: str | None = None, exclude_device: str | None = None
) -> list[DeviceTarget]:
    """The devices (and cameras) recording ``session_id``, in the order they were added."""
    query = (
        SessionDevice.select(SessionDevice.device, SessionDevice.camera_id)
        .join(Device, on=(SessionDevice.device == Device.id))
        .where((SessionDevice.session == session_id) & Device.retired_at.is_null())
        .order_by(SessionDevice.created_at, SessionDevice.id)
    )
    if device_id is not None:
        query = query.where(SessionDevice.device == device_id)
    if exclude_device is not None:
        query = query.where(SessionDevice.device != exclude_device)
    return [DeviceTarget(str(row.device_id), row.camera_id) for row in query]


def device_limits(device_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The clip limits each device reported in its status (``protocol.ClipLimits``)."""
    if not device_ids:
        return {}
    rows = DeviceStatus.select(DeviceStatus.device, DeviceStatus.clip_limits).where(
        DeviceStatus.device.in_(list(device_ids)) & DeviceStatus.clip_limits.is_null(False)
    )
    return {str(row.device_id): dict(row.clip_limits) for row in rows}


def request_range(
    control: DeviceControl,
    *,
    session_id: UUID,
    targets: Sequence[DeviceTarget],
    start: datetime,
    end: datetime,
    ttl_s: float,
    at: datetime | None = None,
    log_id: UUID | None = None,
    replaces: UUID | None = None,
    note: str | None = None,
    requested_by: UUID | None = None,
) -> list[Command]:
    """One ``clip_range`` command per target, recorded and published (``sent`` or
    ``failed`` with the broker's reason)."""
    commands = []
    for target in targets:
        body = ClipRange(
            camera_id=target.camera_id,
            start=start,
            end=end,
            at=at,
            note=note[:500] if note else None,
            requested_by=str(requested_by) if requested_by else None,
            session_id=session_id,
            log_id=log_id,
            replaces=replaces,
        )
        commands.append(
            control.send_command(
                target.device_id,
                body,
                ttl_s=ttl_s,
                session=session_id,
                requested_by=requested_by,
                log_id=log_id,
            )
        )
    return commands


def _claim(log_id: UUID) -> bool:
    return bool(
        Log.update(clips_requested_at=utc_now())
        .where((Log.id == log_id) & Log.clips_requested_at.is_null())
        .execute()
    )


def request_log_clips(
    control: DeviceControl,
    entry: Log,
    *,
    ttl_s: float,
    exclude_device: str | None = None,
    requested_by: UUID | None = None,
) -> list[Command]:
    """Ask every device of the log's session for its window, once (the first caller wins).

    ``exclude_device``: a device that clipped its own cameras already (a box's tag).
    """
    if entry.clip_lead_s is None or entry.clip_lag_s is None or entry.session_id is None:
        return []
    if not _claim(entry.id):
        return []
    at = entry.occurred_at
    targets = session_targets(entry.session_id, exclude_device=exclude_device)
    commands = request_range(
        control,
        session_id=entry.session_id,
        targets=targets,
        start=at - timedelta(seconds=entry.clip_lead_s),
        end=at + timedelta(seconds=entry.clip_lag_s),
        at=at,
        ttl_s=ttl_s,
        log_id=entry.id,
        note=entry.type,
        requested_by=requested_by,
    )
    log.info(
        "log %s (%s): asked %d device(s) for [-%g s, +%g s]",
        entry.id,
        entry.type,
        len(commands),
        entry.clip_lead_s,
        entry.clip_lag_s,
    )
    return commands


def pending_tag_logs(*, received_after: datetime, limit: int = 100) -> list[Log]:
    """Tags whose devices were never asked: a box's tag (the other boxes of its session),
    or a coach's log whose request an API process did not get to send."""
    return list(
        Log.select()
        .join(Session, JOIN.INNER, on=(Log.session == Session.id))
        .where(
            Log.clip_lead_s.is_null(False)
            & Log.clips_requested_at.is_null()
            & Log.deleted_at.is_null()
            & (Log.received_at >= received_after)
            & Session.status.in_(TAG_SESSION_STATUSES)
            & Session.deleted_at.is_null()
        )
        .order_by(Log.received_at)
        .limit(limit)
    )


def promote_replacement(clip: Clip) -> bool:
    """``clip`` (just verified) re-trims ``clip.replaces_id``: swap it in. False when there
    is nothing to replace (unknown, another organisation's, or already replaced)."""
    if clip.replaces_id is None:
        return False
    clip = Clip.get_by_id(clip.id)  # whole, whatever query the caller's came from
    old = Clip.get_or_none((Clip.id == clip.replaces_id) & (Clip.org == clip.org_id))
    if old is None or old.replaced_by_id is not None:
        return False
    Clip.update(replaced_by_id=clip.id).where(
        (Clip.id == old.id) & Clip.replaced_by_id.is_null()
    ).execute()
    inherited: dict[str, Any] = {}
    if not clip.title and old.title:
        inherited["title"] = old.title
    if not clip.tags and old.tags:
        inherited["tags"] = old.tags
    if clip.log_id is None and old.log_id is not None:
        inherited["log_id"] = old.log_id
    if inherited:
        Clip.update(inherited).where(Clip.id == clip.id).execute()
    already = PlaylistItem.select(PlaylistItem.playlist).where(PlaylistItem.clip == clip.id)
    PlaylistItem.update(clip=clip.id).where(
        (PlaylistItem.clip == old.id) & PlaylistItem.playlist.not_in(already)
    ).execute()
    ShareLink.update(clip=clip.id).where(ShareLink.clip == old.id).execute()
    log.info("clip %s replaces clip %s (re-trim)", clip.id, old.id)
    return True
