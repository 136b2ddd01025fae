"""Tagging in the API: a log's clip window, range clips, re-trims, and the links
between logs and clips that listings and the timeline show.

The requests to devices themselves are :mod:`cloud.tagging`'s (the ingest uses
the same for boxes' tags); this module decides what to ask for and refuses
what cannot be asked, each problem naming its field.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from cloud.api.access.scope import OrgScope
from cloud.api.config import TaggingConfig
from cloud.api.forms.clips import ClipTiming, check_timing, timing_for
from cloud.api.query.prepared import PreparedSelect
from cloud.api.schemas.records import ClipRequestPublic, LogCreate
from cloud.api.schemas.tagging import RangeClipCreate, Retrim
from cloud.api.services.clips import clip_data, clips_query
from cloud.api.services.commands import commands_public
from cloud.api.services.forms import parse_clip
from cloud.db import database_proxy
from cloud.devices.control import DeviceControl
from cloud.errors import Conflict, FieldProblem, InvalidInput, NotFound
from cloud.models import (
    Clip,
    ClipStatus,
    Command,
    FormVersion,
    Log,
    Session,
    utc_now,
)
from cloud.object_store import ClipUrlSigner
from cloud.tagging import (
    TAG_SESSION_STATUSES,
    DeviceTarget,
    device_limits,
    request_log_clips,
    request_range,
    session_targets,
)

__all__ = [
    "attach_clips_to_logs",
    "attach_logs_to_clips",
    "limits_for",
    "log_timing",
    "request_clips_for_log",
    "request_range_clips",
    "requests_public",
    "retrim_clip",
    "retrim_log",
]

Row = dict[str, Any]


def _key(value: Any) -> str:
    """An id as canonical text, whether it came as a UUID, as text or as 32 hex digits."""
    return str(value if isinstance(value, UUID) else UUID(str(value)))


def _refuse(message: str, problems: Sequence[FieldProblem]) -> InvalidInput:
    return InvalidInput(message, fields=problems)


def limits_for(limits: TaggingConfig, device_ids: Sequence[str]) -> TaggingConfig:
    """The configured limits, lowered to what any of ``device_ids`` reported it accepts."""
    reported = device_limits(device_ids)
    if not reported:
        return limits
    lag = min(
        [
            limits.max_lag_s,
            *(float(r.get("max_lag_s", limits.max_lag_s)) for r in reported.values()),
        ]
    )
    longest = min(
        [
            limits.max_range_s,
            *(float(r.get("max_range_s", limits.max_range_s)) for r in reported.values()),
        ]
    )
    return limits.model_copy(update={"max_lag_s": lag, "max_range_s": longest})


def _check_moment(at: datetime, limits: TaggingConfig, *, path: str) -> None:
    ahead = (at - utc_now()).total_seconds()
    if ahead > limits.future_slack_s:
        message = (
            f"{path.split('.')[-1]} is {ahead:.0f} s in the future; send the moment it happened"
        )
        raise _refuse(message, [FieldProblem(path, "in_the_future", message)])


def _started(session: Session) -> None:
    if session.status not in TAG_SESSION_STATUSES:
        raise Conflict(
            f"clips are cut from a session that has been filmed (live or ended), not a "
            f"{session.status} one",
            code="session_not_started",
        )


# -- a log's clip window ------------------------------------------------------------------


def log_timing(
    session: Session,
    version: FormVersion | None,
    data: LogCreate,
    clean: dict[str, Any],
    limits: TaggingConfig,
) -> ClipTiming | None:
    """The window a new log asks for (None: no clip), checked; raises naming the field."""
    settings = parse_clip(version.clip) if version is not None and session.tagging else None
    from_form = timing_for(settings, clean)
    if data.lead_s is None and data.lag_s is None and from_form is None:
        return None
    timing = ClipTiming(
        lead_s=data.lead_s if data.lead_s is not None else (from_form.lead_s if from_form else 0.0),
        lag_s=data.lag_s if data.lag_s is not None else (from_form.lag_s if from_form else 0.0),
    )
    if data.occurred_at is None:
        message = (
            "this log becomes a clip: send occurred_at, the moment it happened (the press), "
            "not the time the entry was submitted"
        )
        raise _refuse(message, [FieldProblem("body.occurred_at", "missing", message)])
    _check_moment(data.occurred_at, limits, path="body.occurred_at")
    targets = session_targets(session.id)
    problems = check_timing(
        timing.lead_s, timing.lag_s, limits_for(limits, [t.device_id for t in targets]), path="body"
    )
    if problems:
        raise _refuse("the clip window does not fit: " + problems[0].message, problems)
    return timing


def request_clips_for_log(
    control: DeviceControl, log_id: UUID, *, ttl_s: float, requested_by: UUID | None
) -> list[Command]:
    entry = Log.get_by_id(log_id)
    return request_log_clips(control, entry, ttl_s=ttl_s, requested_by=requested_by)


# -- range clips --------------------------------------------------------------------------


def request_range_clips(
    *,
    scope: OrgScope,
    session: Session,
    data: RangeClipCreate,
    control: DeviceControl,
    limits: TaggingConfig,
    ttl_s: float,
) -> list[Command]:
    _started(session)
    now = utc_now()
    problems: list[FieldProblem] = []
    if data.last_s is not None:
        if data.start is not None or data.end is not None:
            problems.append(
                FieldProblem("body.last_s", "conflict", "give last_s, or start and end; not both")
            )
        start, end = now - timedelta(seconds=data.last_s), now
    else:
        if data.start is None:
            problems.append(FieldProblem("body.start", "missing", "give start and end, or last_s"))
        if data.end is None:
            problems.append(FieldProblem("body.end", "missing", "give start and end, or last_s"))
        if problems:
            raise _refuse("the range is incomplete: give start and end, or last_s", problems)
        assert data.start is not None and data.end is not None
        start, end = data.start, data.end
    if problems:
        raise _refuse(problems[0].message, problems)
    targets = session_targets(session.id, device_id=data.device_id)
    if data.device_id is not None and not targets:
        raise NotFound("device of this session", data.device_id, path="body.device_id")
    if not targets:
        raise Conflict("the session has no recording device; add one first", code="no_devices")
    if data.camera_id is not None:
        targets = [DeviceTarget(t.device_id, data.camera_id) for t in targets]
    bounds = limits_for(limits, [t.device_id for t in targets])
    field = "body.last_s" if data.last_s is not None else "body.end"
    if end <= start:
        problems.append(FieldProblem("body.end", "before_start", "end must be after start"))
    if data.last_s is None:
        _check_moment(start, bounds, path="body.start")
    if (end - now).total_seconds() > bounds.max_lag_s:
        problems.append(
            FieldProblem(
                "body.end",
                "too_far_ahead",
                f"end is {(end - now).total_seconds():.0f} s ahead; a box cuts at most "
                f"{bounds.max_lag_s:g} s ahead",
            )
        )
    length = (end - start).total_seconds()
    if length > bounds.max_range_s:
        problems.append(
            FieldProblem(
                field,
                "range_too_long",
                f"the range is {length:.0f} s; the longest clip is {bounds.max_range_s:g} s",
            )
        )
    if problems:
        raise _refuse("the range cannot be cut: " + problems[0].message, problems)
    return request_range(
        control,
        session_id=session.id,
        targets=targets,
        start=start,
        end=end,
        ttl_s=ttl_s,
        note=data.note,
        requested_by=scope.user_id,
    )


# -- re-trims -----------------------------------------------------------------------------


def _moment_of(clip: Row) -> tuple[datetime, Log | None]:
    """A clip's moment: its log's time, else its first trigger's."""
    if clip["log_id"] is not None:
        entry = Log.get_or_none((Log.id == clip["log_id"]) & Log.deleted_at.is_null())
        if entry is not None:
            return entry.occurred_at, entry
    return clip["triggered_at"], None


def _checked_retrim(data: Retrim, limits: TaggingConfig, device_ids: Sequence[str]) -> None:
    problems = check_timing(data.lead_s, data.lag_s, limits_for(limits, device_ids), path="body")
    if problems:
        raise _refuse("the new trim does not fit: " + problems[0].message, problems)


def retrim_clip(
    *,
    scope: OrgScope,
    session: Session,
    clip: Row,
    data: Retrim,
    control: DeviceControl,
    limits: TaggingConfig,
    ttl_s: float,
) -> list[Command]:
    """Ask the clip's device for its new window; the clip stays until the new one is ready."""
    _started(session)
    if clip["replaced_by_id"] is not None:
        raise Conflict(
            f"clip {clip['id']} was already replaced by {clip['replaced_by_id']}; re-trim that one",
            code="clip_replaced",
        )
    _checked_retrim(data, limits, [clip["device_id"]])
    moment, entry = _moment_of(clip)
    return request_range(
        control,
        session_id=session.id,
        targets=[DeviceTarget(clip["device_id"], clip["camera_id"])],
        start=moment - timedelta(seconds=data.lead_s),
        end=moment + timedelta(seconds=data.lag_s),
        at=moment,
        ttl_s=ttl_s,
        log_id=entry.id if entry is not None else clip["log_id"],
        replaces=clip["id"],
        note=entry.type if entry is not None else None,
        requested_by=scope.user_id,
    )


def retrim_log(
    *,
    scope: OrgScope,
    session: Session,
    log_id: UUID,
    data: Retrim,
    control: DeviceControl,
    limits: TaggingConfig,
    ttl_s: float,
) -> list[Command]:
    """A log's new window: each current clip is re-cut (replacing it), and devices that
    have no clip for it yet are asked again."""
    _started(session)
    entry = Log.get_or_none(
        (Log.id == log_id) & (Log.session == session.id) & Log.deleted_at.is_null()
    )
    if entry is None:
        raise NotFound("log", log_id)
    targets = session_targets(session.id)
    _checked_retrim(data, limits, [t.device_id for t in targets])
    Log.update(clip_lead_s=data.lead_s, clip_lag_s=data.lag_s, clips_requested_at=utc_now()).where(
        Log.id == log_id
    ).execute()
    start = entry.occurred_at - timedelta(seconds=data.lead_s)
    end = entry.occurred_at + timedelta(seconds=data.lag_s)
    current = list(
        Clip.select(Clip.id, Clip.device, Clip.camera_id).where(
            (Clip.log_id == log_id)
            & (Clip.org == scope.org_id)
            & Clip.replaced_by_id.is_null()
            & Clip.deleted_at.is_null()
            & (Clip.status != ClipStatus.FAILED)
        )
    )
    commands: list[Command] = []
    for clip in current:
        commands += request_range(
            control,
            session_id=session.id,
            targets=[DeviceTarget(str(clip.device_id), clip.camera_id)],
            start=start,
            end=end,
            at=entry.occurred_at,
            ttl_s=ttl_s,
            log_id=log_id,
            replaces=clip.id,
            note=entry.type,
            requested_by=scope.user_id,
        )
    clipped = {str(clip.device_id) for clip in current}
    missing = [t for t in targets if t.device_id not in clipped]
    commands += request_range(
        control,
        session_id=session.id,
        targets=missing,
        start=start,
        end=end,
        at=entry.occurred_at,
        ttl_s=ttl_s,
        log_id=log_id,
        note=entry.type,
        requested_by=scope.user_id,
    )
    return commands


# -- what listings show -------------------------------------------------------------------


def requests_public(commands: Sequence[Command]) -> list[ClipRequestPublic]:
    return [
        ClipRequestPublic(
            command_id=command.id,
            device_id=command.device_id,
            camera_id=cast(str | None, command.body.get("camera_id")),
            progress=command.progress.value,
            reason=command.reason,
            replaces=command.body.get("replaces"),
            clip_ids=command.clip_ids,
            issued_at=command.issued_at,
        )
        for command in commands_public(commands)
    ]


# The two lookups a timeline or log page makes, rendered once (peewee's query builder
# costs more than the queries: docs/api.md, Performance).
_CLIPS_OF_LOGS = PreparedSelect(
    lambda p: (
        clips_query()
        .where(
            Clip.log_id.in_(p.many("logs", Clip.log_id))
            & (Clip.org == p.one("org", Clip.org))
            & (Clip.status == ClipStatus.READY)
            & Clip.deleted_at.is_null()
            & Clip.replaced_by_id.is_null()
        )
        .order_by(Clip.device, Clip.camera_id, Clip.id)
    )
)
_LOGS_IN_SPAN = PreparedSelect(
    lambda p: (
        Log.select(Log.id, Log.session.alias("session_id"), Log.type, Log.source, Log.occurred_at)
        .where(
            (Log.org == p.one("org", Log.org))
            & Log.session.in_(p.many("sessions", Log.session))
            & Log.deleted_at.is_null()
            & (Log.occurred_at >= p.one("since", Log.occurred_at))
            & (Log.occurred_at <= p.one("until", Log.occurred_at))
        )
        .order_by(Log.occurred_at, Log.id)
        .limit(5000)
    )
)


def attach_clips_to_logs(
    rows: Iterable[Row], *, org_id: UUID, signer: ClipUrlSigner | None
) -> None:
    """Give each log row its current clips (``clips``, as ClipPublic data) and the answers
    of the devices asked for them (``clip_requests``): two queries for the whole page."""
    by_id = {_key(row["id"]): row for row in rows}
    for row in by_id.values():
        row["clips"], row["clip_requests"] = [], []
    tagged = [UUID(ident) for ident, row in by_id.items() if row.get("clip_lead_s") is not None]
    if not tagged:
        return
    for clip in _CLIPS_OF_LOGS.rows(database_proxy, logs=tagged, org=org_id):
        by_id[_key(clip["log_id"])]["clips"].append(clip_data(clip, signer))
    commands = list(
        Command.select()
        .where(Command.log_id.in_(tagged) & (Command.org == org_id))
        .order_by(Command.issued_at, Command.id)
    )
    grouped: dict[str, list[Command]] = defaultdict(list)
    for command in commands:
        grouped[_key(command.log_id)].append(command)
    for ident, group in grouped.items():
        by_id[ident]["clip_requests"] = [r.model_dump() for r in requests_public(group)]


def attach_logs_to_clips(rows: Sequence[Row], *, org_id: UUID) -> None:
    """Give each clip row the logs of its session inside its range (``logs``): one query
    over the span of the whole page."""
    for row in rows:
        row["logs"] = []
    sessions = {_key(row["session_id"]) for row in rows if row.get("session_id") is not None}
    if not sessions:
        return
    earliest = min(row["started_at"] for row in rows)
    latest = max(row["ended_at"] for row in rows)
    found = _LOGS_IN_SPAN.rows(
        database_proxy,
        org=org_id,
        sessions=[UUID(s) for s in sessions],
        since=earliest,
        until=latest,
    )
    times = [entry["occurred_at"] for entry in found]
    for row in rows:
        first = bisect.bisect_left(times, row["started_at"])
        last = bisect.bisect_right(times, row["ended_at"])
        session = _key(row["session_id"]) if row.get("session_id") is not None else None
        row["logs"] = [
            {key: entry[key] for key in ("id", "type", "source", "occurred_at")}
            for entry in found[first:last]
            if _key(entry["session_id"]) == session
        ]
