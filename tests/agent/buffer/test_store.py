"""The store as producers see it: add_log / add_event / add_clip, durable on return."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from agent.buffer.models import SyncState
from agent.buffer.store import LocalStore
from protocol import ClipRecord, LogRecord
from tests.agent.buffer.conftest import open_store
from tests.agent.factories import make_clip, make_event, make_log


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return list(connection.execute(sql))
    finally:
        connection.close()


def test_added_records_are_committed_when_add_returns(store: LocalStore) -> None:
    log = make_log(payload_bytes=100)
    event = make_event()
    store.add_log(log)
    store.add_event(event)
    # A separate connection (as after a crash) sees both: the commit happened.
    stored = rows(store.path, "SELECT body, state FROM logs")
    assert [(LogRecord.model_validate_json(str(b)), s) for b, s in stored] == [(log, 0)]
    assert rows(store.path, "SELECT count(*) FROM events") == [(1,)]


def test_synchronous_full_and_wal_are_in_force(store: LocalStore) -> None:
    assert store.database.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store.database.execute_sql("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_adding_the_same_record_twice_stores_it_once(store: LocalStore) -> None:
    log = make_log()
    store.add_log(log)
    store.add_log(log)
    assert rows(store.path, "SELECT count(*) FROM logs") == [(1,)]


def test_concurrent_producers_share_commits(store: LocalStore) -> None:
    per_thread, threads = 50, 8
    before = store._writer.commits  # type: ignore[union-attr]

    def produce() -> None:
        for _ in range(per_thread):
            store.add_log(make_log())

    workers = [threading.Thread(target=produce) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert rows(store.path, "SELECT count(*) FROM logs") == [(per_thread * threads,)]
    commits = store._writer.commits - before  # type: ignore[union-attr]
    assert commits < per_thread * threads  # group commit: some callers shared an fsync


def test_a_clip_is_stored_with_its_wire_record_and_object_keys(
    store: LocalStore, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clips")
    store.add_clip(clip)
    body, state, key, thumb_key, disk_bytes = rows(
        store.path, "SELECT body, state, object_key, thumbnail_key, disk_bytes FROM clips"
    )[0]
    record = ClipRecord.model_validate_json(str(body))
    day = clip.started_at.strftime("%Y/%m/%d")
    assert key == record.object_key == f"org1/dev1/{day}/{clip.id}.mp4"
    assert thumb_key == record.thumbnail_key == f"org1/dev1/{day}/{clip.id}.jpg"
    assert record.sha256 == clip.sha256 and record.size_bytes == clip.size_bytes
    assert state == SyncState.PENDING
    assert disk_bytes == clip.size_bytes + clip.thumbnail_path.stat().st_size  # type: ignore[union-attr]
    assert store.uploads_due.is_set()


def test_a_clip_whose_file_is_missing_is_refused_with_the_path(
    store: LocalStore, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clips")
    clip.path.unlink()
    with pytest.raises(ValueError, match=str(clip.path)):
        store.add_clip(clip)
    assert rows(store.path, "SELECT count(*) FROM clips") == [(0,)]


def test_records_survive_a_reopen_and_published_ones_become_sendable_again(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    first = open_store(path)
    logs = [make_log() for _ in range(5)]
    first.add_logs(logs)
    claimed = first.outbox.claim(
        "logs", [logs[0].id], max_records=3, max_bytes=100_000, now=0.0, max_delay_s=60
    )
    assert len(claimed[0].raw_ids) == 3
    first.close()  # as if killed: three rows were PUBLISHED without a receipt

    second = open_store(path)
    try:
        states = rows(path, "SELECT state, count(*) FROM logs GROUP BY state")
        assert states == [(SyncState.PENDING, 5)]
        assert second.outbox.backlog(0.0).logs == 5
    finally:
        second.close()


def test_system_logs_record_what_the_agent_itself_saw(store: LocalStore) -> None:
    store.add_system_log("clock_jumped", {"seconds": 3600.0})
    (body,) = rows(store.path, "SELECT body FROM logs")[0]
    record = json.loads(str(body))
    assert record["source"] == "system" and record["type"] == "clock_jumped"
    assert record["data"] == {"seconds": 3600.0}
