"""Versioned schema of the local store: numbered migrations, applied in order.

The version lives in ``PRAGMA user_version``. Each migration runs in its own
transaction together with the version bump (SQLite DDL is transactional), so a
crash mid-migration leaves the previous version intact. A store written by a
newer agent is refused rather than guessed at.

Records of each kind keep their wire JSON (``body``) exactly as it will be
published, so a batch is assembled by splicing bodies, not by re-serialising.
``state`` follows :class:`agent.buffer.models.SyncState`; the partial indexes
cover only unsynced rows, so the outbox queries stay fast however many
acknowledged rows wait to be pruned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from agent.errors import AgentError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "SchemaTooNew", "migrate"]


class SchemaTooNew(AgentError, RuntimeError):
    """The store was written by a newer agent; downgrading would misread it."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: Sequence[str]


def _record_table(name: str) -> list[str]:
    return [
        f"""CREATE TABLE {name} (
            seq INTEGER PRIMARY KEY,
            id BLOB NOT NULL UNIQUE,
            state INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL DEFAULT 0,
            message_id BLOB,
            last_error TEXT,
            synced_at REAL,
            body TEXT NOT NULL
        )""",
        f"CREATE INDEX {name}_unsynced ON {name}(state, seq) WHERE state < 4",
        f"CREATE INDEX {name}_message ON {name}(message_id) WHERE state = 3",
    ]


_V1 = [
    *_record_table("logs"),
    *_record_table("events"),
    """CREATE TABLE clips (
        seq INTEGER PRIMARY KEY,
        id BLOB NOT NULL UNIQUE,
        state INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        message_id BLOB,
        last_error TEXT,
        synced_at REAL,
        body TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        session_id TEXT,
        started_at REAL NOT NULL,
        ended_at REAL NOT NULL,
        path TEXT NOT NULL,
        thumbnail_path TEXT,
        size_bytes INTEGER NOT NULL,
        disk_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        object_key TEXT NOT NULL,
        thumbnail_key TEXT,
        thumbnail_uploaded INTEGER NOT NULL DEFAULT 0,
        upload_id TEXT,
        upload_started_at REAL,
        file_present INTEGER NOT NULL DEFAULT 1,
        evicted_at REAL
    )""",
    "CREATE INDEX clips_unsynced ON clips(state, seq) WHERE state < 4",
    "CREATE INDEX clips_message ON clips(message_id) WHERE state = 3",
    "CREATE INDEX clips_on_disk ON clips(state, seq) WHERE file_present = 1",
    # Parts of a multipart upload that S3 confirmed; SeaweedFS's list_parts does
    # not return checksums, and complete_multipart_upload needs them.
    """CREATE TABLE upload_parts (
        clip_id BLOB NOT NULL,
        upload_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum_sha256 TEXT NOT NULL,
        uploaded_at REAL NOT NULL,
        PRIMARY KEY (clip_id, part_number)
    ) WITHOUT ROWID""",
    """CREATE TABLE desired_state (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        revision INTEGER NOT NULL,
        body TEXT NOT NULL,
        received_at REAL NOT NULL
    )""",
    # Every command ever handled (until it has long expired): a duplicate is
    # refused even after a restart, and an ack not yet accepted by the broker is
    # published again on the next connection.
    """CREATE TABLE handled_commands (
        command_id BLOB PRIMARY KEY,
        received_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        status TEXT NOT NULL,
        ack_body TEXT NOT NULL,
        ack_published INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
]

# Clips promised to a trigger and not yet made: written before the trigger hears the
# clip's id, so that a power cut during the post-roll does not forget the press.
_V2 = [
    """CREATE TABLE pending_clips (
        id BLOB PRIMARY KEY,
        camera_id TEXT NOT NULL,
        window_start REAL NOT NULL,
        window_end REAL NOT NULL,
        session_id TEXT,
        triggers TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID""",
]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records, clips, upload parts, desired state, commands, counters", _V1),
    Migration(2, "clips promised to triggers", _V2),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate(connection: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the store to the newest version; return the version it was at."""
    found = int(connection.execute("PRAGMA user_version").fetchone()[0])
    newest = migrations[-1].version
    if found > newest:
        raise SchemaTooNew(
            f"the store is at schema version {found}, newer than this agent's {newest}; "
            "run the newer agent, or move the store aside to start a fresh one"
        )
    for migration in migrations:
        if migration.version <= found:
            continue
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so DDL and the
        # version bump commit together or not at all.
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {int(migration.version)}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    return found
