"""Disk quota: synced clips go first, unsynced only past the hard limit, and each loss is told."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from agent.buffer.models import SyncState
from agent.buffer.store import LocalStore
from tests.agent.buffer.conftest import open_store
from tests.agent.factories import make_clip

CLIP = 10_000  # bytes per clip file (no thumbnails here)


def set_state(store: LocalStore, clip_id: object, state: SyncState) -> None:
    clips = store.tables.clips
    clips.update(state=state).where(clips.id == clip_id).execute()


def clip_rows(store: LocalStore) -> dict[str, tuple[int, bool]]:
    cursor = store.database.execute_sql("SELECT path, state, file_present FROM clips")
    return {Path(p).stem: (int(s), bool(f)) for p, s, f in cursor.fetchall()}


@pytest.fixture
def quota_store(tmp_path: Path) -> Iterator[LocalStore]:
    # Quota: 3 clips; hard limit: 5 clips.
    store = open_store(tmp_path / "buffer.db", quota_bytes=3 * CLIP, hard_limit_bytes=5 * CLIP)
    yield store
    store.close()


def add_clips(store: LocalStore, directory: Path, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        clip = make_clip(directory, size=CLIP, thumbnail=False)
        store.add_clip(clip)
        ids.append(str(clip.id))
    return ids


def test_synced_clips_are_evicted_oldest_first_down_to_the_quota(
    quota_store: LocalStore, tmp_path: Path
) -> None:
    ids = add_clips(quota_store, tmp_path / "clips", 5)
    for clip_id in ids[:4]:
        set_state(quota_store, UUID(clip_id), SyncState.ACKED)
    report = quota_store.retention.enforce()
    assert (report.evicted_synced, report.evicted_unsynced) == (2, 0)
    rows = clip_rows(quota_store)
    assert [rows[i][1] for i in ids] == [False, False, True, True, True]
    assert not (tmp_path / "clips" / f"{ids[0]}.mp4").exists()
    assert quota_store.retention.evicted_unsynced_clips == 0


def test_unsynced_clips_stay_until_the_hard_limit(quota_store: LocalStore, tmp_path: Path) -> None:
    add_clips(quota_store, tmp_path / "clips", 5)  # over quota, at the hard limit, none synced
    report = quota_store.retention.enforce()
    assert report.evicted_synced == report.evicted_unsynced == 0
    assert all(present for _, present in clip_rows(quota_store).values())


def test_past_the_hard_limit_unsynced_clips_go_counted_logged_and_reported(
    quota_store: LocalStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids = add_clips(quota_store, tmp_path / "clips", 7)
    report = quota_store.retention.enforce()
    assert report.evicted_unsynced == 2
    rows = clip_rows(quota_store)
    assert [rows[i] for i in ids[:2]] == [(SyncState.EVICTED, False)] * 2
    assert quota_store.retention.evicted_unsynced_clips == 2
    assert quota_store.retention.evicted_unsynced_bytes == 2 * CLIP
    assert "evicted clip" in caplog.text and "lost" in caplog.text
    # The loss is a system log record, on its way to the cloud like any other.
    bodies = [json.loads(b) for (b,) in quota_store.database.execute_sql("SELECT body FROM logs")]
    assert sorted(b["data"]["clip_id"] for b in bodies) == sorted(ids[:2])
    assert {b["type"] for b in bodies} == {"clip_evicted"}
    counters = dict(quota_store.database.execute_sql("SELECT name, value FROM counters").fetchall())
    assert counters == {"evicted_unsynced_clips": 2, "evicted_unsynced_bytes": 2 * CLIP}
    assert quota_store.outbox.backlog(0).clips == 5  # evicted ones are not waiting any more


def test_files_already_in_s3_are_evicted_like_synced_ones_without_loss(
    quota_store: LocalStore, tmp_path: Path
) -> None:
    ids = add_clips(quota_store, tmp_path / "clips", 4)
    set_state(quota_store, UUID(ids[0]), SyncState.UPLOADED)
    report = quota_store.retention.enforce()
    assert (report.evicted_synced, report.evicted_unsynced) == (1, 0)
    assert clip_rows(quota_store)[ids[0]] == (SyncState.UPLOADED, False)  # record still to send
    assert quota_store.retention.evicted_unsynced_clips == 0


def test_an_emergency_releases_the_reserve_first(tmp_path: Path) -> None:
    store = open_store(tmp_path / "buffer.db", reserve_bytes=64 * 1024)
    try:
        assert store.reserve.held  # created at start-up
        report = store.retention.enforce(emergency=True)
        assert report.released_reserve and not store.reserve.held
        store.retention.enforce()  # space is back: the reserve returns
        assert store.reserve.held
    finally:
        store.close()


def test_clip_files_that_vanished_are_reconciled_at_start(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    store = open_store(path)
    clip = make_clip(tmp_path / "clips", thumbnail=False)
    store.add_clip(clip)
    store.close()
    clip.path.unlink()
    reopened = open_store(path)
    try:
        state, present = clip_rows(reopened)[str(clip.id)]
        assert (state, present) == (SyncState.REJECTED, False)
        assert reopened.outbox.backlog(0).clips == 0  # not waiting for a file that is gone
    finally:
        reopened.close()
