"""Poison messages and dead-letter replay.

``ingest_attempt`` holds the re-delivered messages a worker has begun and not
finished (see ``cloud.models.IngestAttempt``); ``dead_letter`` gains
``replayed_at`` and ``replay_result`` for ``sideline cloud dead-letters replay``.
The statements are what the models rendered when this was written.
"""

from __future__ import annotations

from peewee import Database

__all__ = ["apply"]

_STATEMENTS = (
    'CREATE TABLE "ingest_attempt" ("digest" VARCHAR(64) NOT NULL PRIMARY KEY, '
    '"topic" TEXT NOT NULL, "attempts" INTEGER NOT NULL, "first_at" TIMESTAMPTZ NOT NULL, '
    '"last_at" TIMESTAMPTZ NOT NULL, "worker" VARCHAR(128))',
    'ALTER TABLE "dead_letter" ADD COLUMN "replayed_at" TIMESTAMPTZ',
    'ALTER TABLE "dead_letter" ADD COLUMN "replay_result" TEXT',
)


def apply(database: Database) -> None:
    for statement in _STATEMENTS:
        database.execute_sql(statement)
