"""Opening the store: migrations, and quarantine (never deletion) of a corrupt file."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from agent.buffer.database import StoreOpenError, open_database
from agent.buffer.schema import MIGRATIONS, SCHEMA_VERSION, Migration, SchemaTooNew, migrate
from tests.agent.buffer.conftest import open_store
from tests.agent.factories import make_log


def test_a_new_store_is_at_the_newest_schema(tmp_path: Path) -> None:
    database, quarantined = open_database(tmp_path / "b.db")
    assert quarantined is None
    assert database.execute_sql("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    database.close()


def test_migrations_apply_in_order_and_only_once(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    extra = Migration(SCHEMA_VERSION + 1, "test column", ["ALTER TABLE logs ADD COLUMN note TEXT"])
    assert migrate(connection, (*MIGRATIONS, extra)) == 0
    assert migrate(connection, (*MIGRATIONS, extra)) == SCHEMA_VERSION + 1  # nothing left to do
    columns = [row[1] for row in connection.execute("PRAGMA table_info(logs)")]
    assert "note" in columns


def test_a_failing_migration_leaves_the_previous_version_intact(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    migrate(connection)
    broken = Migration(
        SCHEMA_VERSION + 1, "half done", ["CREATE TABLE t (x)", "ALTER TABLE nope ADD COLUMN y"]
    )
    with pytest.raises(sqlite3.OperationalError):
        migrate(connection, (*MIGRATIONS, broken))
    assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "t" not in tables  # the first statement was rolled back with the second


def test_a_store_from_a_newer_agent_is_refused_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    connection.close()
    with pytest.raises(SchemaTooNew, match="newer than this agent"):
        open_database(path)
    assert path.exists()


def test_a_file_that_is_not_a_database_is_quarantined_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"left by a crash")
    store = open_store(path)
    try:
        moved = store.quarantined
        assert moved is not None and "not a database" in moved.reason
        assert moved.moved_to.read_bytes() == garbage  # kept, byte for byte
        assert moved.moved_to.name.startswith("buffer.db.corrupt-")
        assert Path(f"{moved.moved_to}-wal").read_bytes() == b"left by a crash"
        # The fresh store works and tells the cloud what happened.
        store.add_log(make_log())
        bodies = [json.loads(r[0]) for r in store.database.execute_sql("SELECT body FROM logs")]
        assert [b["type"] for b in bodies] == ["store_quarantined", "marker"]
        assert bodies[0]["data"]["moved_to"] == str(moved.moved_to)
    finally:
        store.close()


def test_a_store_with_a_damaged_page_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    store = open_store(path)
    store.add_logs([make_log(payload_bytes=200) for _ in range(2000)])
    store.close()
    assert not Path(f"{path}-wal").exists()  # closed cleanly: checkpointed
    size = path.stat().st_size
    with path.open("r+b") as handle:  # scribble over a page in the middle of the table
        handle.seek((size // 4096 // 2) * 4096)
        handle.write(b"\xa5" * 4096)
    reopened = open_store(path)
    try:
        moved = reopened.quarantined
        assert moved is not None
        assert "malformed" in moved.reason or "quick_check" in moved.reason
        assert moved.moved_to.stat().st_size == size
        assert reopened.outbox.backlog(0).logs == 1  # only the quarantine report
    finally:
        reopened.close()


def test_a_directory_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StoreOpenError, match=r"device.data_dir"):
        open_database(blocker / "buffer.db")
