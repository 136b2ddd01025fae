"""Recurring series, the host's busy time, and the session columns they need.

New tables ``session_series`` and ``host_busy`` (frozen DDL beside this file,
rendered by ``cloud.migrations.render``), then the rule that no two busy rows
of a host overlap (PostgreSQL: an exclusion constraint with ``btree_gist``,
SQLite: triggers), and on ``session``: ``occurrence_at``, ``occurrence_edited``,
``auto_start``, ``late_grace_minutes``, with one occurrence per series and
instant (which replaces the plain ``recurrence_id`` index).

Existing sessions with a host and a time get their busy rows. Where two of a
host's sessions already overlapped, the later one keeps no busy row (it is
listed in the log) rather than the migration failing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from peewee import Database

from cloud.db import is_postgres
from cloud.migrations.render import split_statements
from cloud.models import UtcDateTimeField, utc_now
from cloud.models.scheduling import host_busy_constraint_ddl
from protocol.ids import new_id

__all__ = ["apply"]

log = logging.getLogger(__name__)

_SESSION_COLUMNS = (
    'ALTER TABLE "session" ADD COLUMN "occurrence_at" TIMESTAMPTZ',
    'ALTER TABLE "session" ADD COLUMN "occurrence_edited" BOOLEAN NOT NULL DEFAULT FALSE',
    'ALTER TABLE "session" ADD COLUMN "auto_start" BOOLEAN NOT NULL DEFAULT FALSE',
    'ALTER TABLE "session" ADD COLUMN "late_grace_minutes" INTEGER CHECK (late_grace_minutes >= 0)',
    'DROP INDEX "session_recurrence_id"',
    'CREATE UNIQUE INDEX "session_recurrence_id_occurrence_at" '
    'ON "session" ("recurrence_id", "occurrence_at")',
    'CREATE INDEX "session_status_auto_start_scheduled_at" '
    'ON "session" ("status", "auto_start", "scheduled_at")',
)

DEFAULT_SESSION_MINUTES = 60  # also cloud.scheduling.busy's: a session without a duration


def apply(database: Database) -> None:
    dialect = "postgres" if is_postgres(database) else "sqlite"
    ddl = (Path(__file__).parent / f"v0004_scheduling.{dialect}.sql").read_text()
    for statement in split_statements(ddl):
        database.execute_sql(statement)
    for statement in host_busy_constraint_ddl(database):
        database.execute_sql(statement)
    for statement in _SESSION_COLUMNS:
        if dialect == "sqlite":
            statement = statement.replace(
                "BOOLEAN NOT NULL DEFAULT FALSE", "INTEGER NOT NULL DEFAULT 0"
            )
        database.execute_sql(statement)
    _busy_rows_for_existing_sessions(database)


def _busy_rows_for_existing_sessions(database: Database) -> None:
    rows = database.execute_sql(
        'SELECT id, org_id, host_id, scheduled_at, duration_minutes FROM "session" '
        "WHERE host_id IS NOT NULL AND scheduled_at IS NOT NULL AND deleted_at IS NULL "
        "AND status != 'cancelled' ORDER BY scheduled_at, id"
    ).fetchall()
    field = UtcDateTimeField()
    param = database.param
    taken: dict[object, list[tuple[datetime, datetime]]] = {}
    for session_id, org_id, host_id, scheduled_at, minutes in rows:
        start = field.python_value(scheduled_at)
        assert start is not None
        end = start + timedelta(minutes=minutes or DEFAULT_SESSION_MINUTES)
        if any(s < end and start < e for s, e in taken.get(host_id, [])):
            log.warning(
                "session %s overlaps another of its host's sessions: no busy row", session_id
            )
            continue
        taken.setdefault(host_id, []).append((start, end))
        database.execute_sql(
            f"INSERT INTO host_busy (id, org_id, host_id, starts_at, ends_at, kind, session_id, "
            f"created_at) VALUES ({param}, {param}, {param}, {param}, {param}, 'session', "
            f"{param}, {param})",
            (
                new_id().hex,
                org_id,
                host_id,
                field.db_value(start),
                field.db_value(end),
                session_id,
                field.db_value(utc_now()),
            ),
        )
