"""Attendance intervals, automatic "late", and what a seat cost.

``attendance_interval`` holds each join/leave of a participant (merged into
``joined_at``, ``left_at`` and ``duration_seconds``); ``session_participant``
gains ``attendance_auto`` (the status follows the join times) and
``price_minor``/``currency`` (the price when the seat was taken, so revenue is
an exact sum). Existing join/leave times become one interval each; existing
registrations of paid sessions take the session's price.
The statements are what the models rendered when this was written.
"""

from __future__ import annotations

from peewee import Database

from cloud.db import is_postgres
from protocol.ids import new_id

__all__ = ["apply"]

_TABLE = (
    'CREATE TABLE "attendance_interval" ("id" {uuid} NOT NULL PRIMARY KEY, "participant_id" '
    '{uuid} NOT NULL, "joined_at" TIMESTAMPTZ NOT NULL, "left_at" TIMESTAMPTZ, "created_at" '
    'TIMESTAMPTZ NOT NULL, FOREIGN KEY ("participant_id") REFERENCES "session_participant" '
    '("id") ON DELETE CASCADE, CHECK (left_at IS NULL OR left_at >= joined_at))',
    'CREATE INDEX "attendance_interval_participant_id_joined_at" ON "attendance_interval" '
    '("participant_id", "joined_at")',
    'ALTER TABLE "session_participant" ADD COLUMN "attendance_auto" {boolean} NOT NULL '
    "DEFAULT {false}",
    'ALTER TABLE "session_participant" ADD COLUMN "price_minor" INTEGER CHECK (price_minor >= 0)',
    'ALTER TABLE "session_participant" ADD COLUMN "currency" VARCHAR(3)',
)


def apply(database: Database) -> None:
    postgres = is_postgres(database)
    types = {
        "uuid": "UUID" if postgres else "TEXT",
        "boolean": "BOOLEAN" if postgres else "INTEGER",
        "false": "FALSE" if postgres else "0",
    }
    for statement in _TABLE:
        database.execute_sql(statement.format(**types))
    param = database.param
    rows = database.execute_sql(
        "SELECT id, joined_at, left_at, registered_at FROM session_participant "
        "WHERE joined_at IS NOT NULL"
    ).fetchall()
    for participant_id, joined_at, left_at, registered_at in rows:
        database.execute_sql(
            f"INSERT INTO attendance_interval (id, participant_id, joined_at, left_at, created_at) "
            f"VALUES ({param}, {param}, {param}, {param}, {param})",
            (new_id().hex, participant_id, joined_at, left_at, registered_at),
        )
    database.execute_sql(
        'UPDATE session_participant SET price_minor = (SELECT price_minor FROM "session" '
        'WHERE "session".id = session_participant.session_id), currency = (SELECT currency '
        'FROM "session" WHERE "session".id = session_participant.session_id) WHERE EXISTS '
        '(SELECT 1 FROM "session" WHERE "session".id = session_participant.session_id AND '
        "NOT is_free)"
    )
