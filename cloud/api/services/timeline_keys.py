"""The SQL that finds one timeline page's keys: ``(kind, time, id)`` in order.

One ``UNION ALL`` of per-table keyset queries, each an index range scan on its
table's ``(session_id, time, id)`` index limited to the page size. Written as
plain SQL (not built by peewee per request) because it runs on every page and
generating it through peewee's query builder cost more than running it; the
values still go through the fields' ``db_value`` so both databases see the
same representation as everywhere else (UTC text on SQLite, ``uuid`` hex).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from peewee import Database, Field

from cloud.api.query.cursor import Cursor, Order
from cloud.api.schemas.timeline import TimelineItemType
from cloud.models import (
    Clip,
    ClipStatus,
    DetectionEventRecord,
    Log,
    SessionTransition,
)

__all__ = [
    "DETECTOR_SOURCE",
    "LIFECYCLE_SOURCE",
    "MARKER_SOURCE",
    "TimelineFilter",
    "folds_clips",
    "keys_statement",
]

T = TimelineItemType
DETECTOR_SOURCE = "detector"
LIFECYCLE_SOURCE = "user"
MARKER_SOURCE = "marker"


@dataclass(frozen=True)
class TimelineFilter:
    types: frozenset[TimelineItemType] = field(default_factory=frozenset)  # empty: all
    sources: frozenset[str] = field(default_factory=frozenset)  # empty: all
    device_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def wants(self, kind: TimelineItemType) -> bool:
        return not self.types or kind in self.types


class _Part:
    """One table's keyset query: conditions collected with their parameters."""

    def __init__(self, name: str, model: Any, time: Field, param: str) -> None:
        self.name, self.model, self.time, self.param = name, model, time, param
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def where(self, column: Field, operator: str, value: Any) -> _Part:
        self.conditions.append(f'"{column.column_name}" {operator} {self.param}')
        self.params.append(column.db_value(value))
        return self

    def where_in(self, column: Field, values: Sequence[Any]) -> _Part:
        marks = ", ".join([self.param] * len(values))
        self.conditions.append(f'"{column.column_name}" IN ({marks})')
        self.params.extend(column.db_value(value) for value in values)
        return self

    def where_null(self, column: Field) -> _Part:
        self.conditions.append(f'"{column.column_name}" IS NULL')
        return self

    def where_sql(self, condition: str) -> _Part:
        """A condition without parameters."""
        self.conditions.append(condition)
        return self

    def after(self, cursor: Cursor, order: Order) -> None:
        # t >= c AND (t > c OR id > c_id): the range uses the index, ties are filtered.
        wider, strict = (">=", ">") if order is Order.ASC else ("<=", "<")
        time, ident = f'"{self.time.column_name}"', '"id"'
        self.conditions.append(
            f"{time} {wider} {self.param} AND ({time} {strict} {self.param} "
            f"OR {ident} {strict} {self.param})"
        )
        at = self.time.db_value(cursor.at)
        self.params += [at, at, self.model.id.db_value(cursor.id)]

    def sql(self, order: Order, limit: int) -> str:
        table = self.model._meta.table_name
        direction = "ASC" if order is Order.ASC else "DESC"
        time = f'"{self.time.column_name}"'
        return (
            f"SELECT '{self.name}' AS kind, {time} AS t, \"id\" AS i "
            f'FROM "{table}" WHERE {" AND ".join(self.conditions)} '
            f'ORDER BY {time} {direction}, "id" {direction} LIMIT {int(limit)}'
        )


# No OR with "log_id IS NULL" (redundant: no log has a null id): NOT EXISTS alone is an
# anti-join the planner runs as one primary-key probe per clip the page reads; with the
# OR it hashed the whole log table first (bench/api_timeline.py's EXPLAIN).
_NOT_IN_A_LOG = (
    'NOT EXISTS (SELECT 1 FROM "log" WHERE "log"."id" = "clip"."log_id" '
    'AND "log"."session_id" = "clip"."session_id" AND "log"."deleted_at" IS NULL)'
)


def folds_clips(wanted: TimelineFilter) -> bool:
    """Whether a log's clips are shown inside its item rather than as items of their own:
    when the page shows every log (no source or device filter could leave the log out)."""
    return (
        (wanted.wants(T.LOG) or wanted.wants(T.MARKER))
        and not wanted.sources
        and wanted.device_id is None
    )


def _parts(param: str, *, org_id: UUID, session_id: UUID, wanted: TimelineFilter) -> list[_Part]:
    sources, device = sorted(wanted.sources), wanted.device_id
    parts: list[_Part] = []
    if wanted.wants(T.LOG) or wanted.wants(T.MARKER):
        part = _Part("log", Log, Log.occurred_at, param)
        part.where(Log.session, "=", session_id).where(Log.org, "=", org_id)
        part.where_null(Log.deleted_at)
        if not wanted.wants(T.MARKER):
            part.where(Log.source, "<>", MARKER_SOURCE)
        elif not wanted.wants(T.LOG):
            part.where(Log.source, "=", MARKER_SOURCE)
        if sources:
            part.where_in(Log.source, sources)
        if device is not None:
            part.where(Log.device, "=", device)
        parts.append(part)
    if wanted.wants(T.CLIP):
        part = _Part("clip", Clip, Clip.started_at, param)
        part.where(Clip.session, "=", session_id).where(Clip.org, "=", org_id)
        # Failed clips too (the box could not make one, or its object never checked out):
        # the coach sees what became of a press, with the reason (``failure_reason``).
        part.where_in(Clip.status, [ClipStatus.READY, ClipStatus.FAILED])
        part.where_null(Clip.deleted_at)
        part.where_null(Clip.replaced_by_id)  # a re-trim took its place
        if folds_clips(wanted):
            part.where_sql(_NOT_IN_A_LOG)
        if sources:
            part.where_in(Clip.trigger_source, sources)
        if device is not None:
            part.where(Clip.device, "=", device)
        parts.append(part)
    if wanted.wants(T.DETECTION) and (not sources or DETECTOR_SOURCE in sources):
        model = DetectionEventRecord
        part = _Part("detection", model, model.occurred_at, param)
        part.where(model.session, "=", session_id).where(model.org, "=", org_id)
        if device is not None:
            part.where(model.device, "=", device)
        parts.append(part)
    lifecycle_ok = not sources or LIFECYCLE_SOURCE in sources
    if wanted.wants(T.LIFECYCLE) and lifecycle_ok and device is None:
        part = _Part("lifecycle", SessionTransition, SessionTransition.occurred_at, param)
        parts.append(part.where(SessionTransition.session, "=", session_id))
    return parts


def keys_statement(
    database: Database,
    *,
    org_id: UUID,
    session_id: UUID,
    wanted: TimelineFilter,
    cursor: Cursor | None,
    order: Order,
    limit: int,
) -> tuple[str, list[Any]] | None:
    """The SQL and parameters of one page's keys; None when the filter rules out every kind."""
    parts = _parts(database.param, org_id=org_id, session_id=session_id, wanted=wanted)
    if not parts:
        return None
    params: list[Any] = []
    for part in parts:
        if wanted.since is not None:
            part.where(part.time, ">=", wanted.since)
        if wanted.until is not None:
            part.where(part.time, "<", wanted.until)
        if cursor is not None:
            part.after(cursor, order)
        params += part.params
    direction = "ASC" if order is Order.ASC else "DESC"
    union = " UNION ALL ".join(
        f"SELECT kind, t, i FROM ({part.sql(order, limit)}) AS {part.name}_keys" for part in parts
    )
    return f"{union} ORDER BY t {direction}, i {direction} LIMIT {int(limit)}", params
