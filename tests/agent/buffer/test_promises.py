"""Clips promised to triggers: durable before the trigger hears the id, ended by the clip or
by a failed-clip record for the cloud (agent.interfaces.sinks.ClipLedger on the store)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from agent.buffer.models import SyncState
from agent.interfaces.sinks import ClipPromise
from protocol import ClipBatch, ClipFailureReason, Trigger, TriggerSource, new_id, utc_now
from tests.agent.buffer.conftest import IDENTITY, open_store
from tests.agent.factories import make_clip


def promise(**changes: object) -> ClipPromise:
    at = utc_now()
    made = ClipPromise(
        id=new_id(),
        camera_id="cam1",
        start=at - timedelta(seconds=20),
        end=at + timedelta(seconds=10),
        triggers=(Trigger(source=TriggerSource.LAN, at=at, by="coach", note="corner"),),
        session_id=new_id(),
        width=1920,
        height=1080,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_a_promise_survives_a_reopen_and_a_merge_widens_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "buffer.db")
    first = promise()
    store.promise_clip(first)
    later = Trigger(source=TriggerSource.BUTTON, at=first.end, by="gpio17")
    widened = replace(
        first, end=first.end + timedelta(seconds=5), triggers=(*first.triggers, later)
    )
    store.promise_clip(widened)
    store.close()
    reopened = open_store(tmp_path / "buffer.db")
    assert reopened.promised_clips() == [widened]


def test_the_clip_ends_its_promise_in_the_same_commit_and_a_late_promise_is_ignored(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "buffer.db")
    clip = make_clip(tmp_path / "clips")
    store.promise_clip(promise(id=clip.id))
    store.add_clip(clip)
    assert store.promised_clips() == []
    store.promise_clip(promise(id=clip.id))  # a merge that raced the commit
    assert store.promised_clips() == []
    assert store.database.execute_sql("SELECT count(*) FROM pending_clips").fetchone() == (0,)


def test_a_failed_clip_is_a_sendable_record_without_a_file(tmp_path: Path) -> None:
    store = open_store(tmp_path / "buffer.db")
    promised = promise()
    store.promise_clip(promised)
    store.fail_clip(
        promised, ClipFailureReason.POWER_LOST, "power lost before the clip was complete"
    )
    assert store.promised_clips() == []
    clips = store.tables.clips
    row = clips.get(clips.id == promised.id)
    assert row.state == SyncState.UPLOADED and not row.file_present and row.disk_bytes == 0
    body = json.loads(row.body)
    assert body["failure"] == {
        "reason": "power_lost",
        "message": "power lost before the clip was complete",
    }
    assert "object_key" not in body and "sha256" not in body
    # It is what the publisher will send: a valid batch under the device's prefix.
    batch = ClipBatch(org=IDENTITY.org, device_id=IDENTITY.device_id, records=[body])
    record = batch.records[0]
    assert record.triggers == list(promised.triggers) and record.session_id == promised.session_id
    assert (record.width, record.height) == (1920, 1080)
    # The uploader and retention leave it alone: nothing is on disk.
    assert store.uploads.next_job(0.0, 60.0) is None
    assert store.outbox.backlog(0.0).clips == 1
