"""The outbox: claiming batches, receipts, requeues, backlog and pruning."""

from __future__ import annotations

import time
from uuid import UUID

from agent.buffer.models import SyncState
from agent.buffer.outbox import ClaimedBatch, ReceiptUpdate
from agent.buffer.store import LocalStore
from protocol import new_id
from tests.agent.factories import make_log


def states(store: LocalStore) -> dict[int, int]:
    cursor = store.database.execute_sql("SELECT state, count(*) FROM logs GROUP BY state")
    return {int(state): int(count) for state, count in cursor.fetchall()}


def claim(
    store: LocalStore,
    batches: int = 1,
    *,
    max_records: int = 500,
    max_bytes: int = 100_000,
    now: float | None = None,
) -> list[ClaimedBatch]:
    return store.outbox.claim(
        "logs",
        [new_id() for _ in range(batches)],
        max_records=max_records,
        max_bytes=max_bytes,
        now=time.time() if now is None else now,
        max_delay_s=600,
    )


def test_claims_take_the_oldest_rows_and_never_the_same_row_twice(store: LocalStore) -> None:
    logs = [make_log() for _ in range(25)]
    store.add_logs(logs)
    first = claim(store, 2, max_records=10)
    second = claim(store, 2, max_records=10)
    taken = [i for batch in first + second for i in batch.ids]
    assert taken == [log.id for log in logs]  # oldest first, each once
    assert [len(b.raw_ids) for b in first + second] == [10, 10, 5]
    assert states(store) == {SyncState.PUBLISHED: 25}


def test_a_batch_stays_within_the_byte_budget(store: LocalStore) -> None:
    store.add_logs([make_log(payload_bytes=300) for _ in range(20)])
    batches = claim(store, 5, max_bytes=2000)
    for batch in batches:
        assert sum(len(body) + 1 for body in batch.bodies) <= 2000
    assert sum(len(b.raw_ids) for b in batches) == 20


def test_a_record_too_large_for_any_message_is_rejected_with_the_reason(store: LocalStore) -> None:
    big, small = make_log(payload_bytes=5000), make_log()
    store.add_logs([big, small])
    (batch,) = claim(store, max_bytes=1000)
    assert batch.ids == [small.id]
    row = store.database.execute_sql(
        "SELECT state, last_error FROM logs WHERE id = ?", (big.id.bytes,)
    ).fetchone()
    assert row[0] == SyncState.REJECTED and "message budget" in row[1]


def test_a_receipt_acks_stored_ids_and_rejects_the_named_ones(store: LocalStore) -> None:
    logs = [make_log() for _ in range(4)]
    store.add_logs(logs)
    (_batch,) = claim(store)
    outcome = store.outbox.apply_receipts(
        [ReceiptUpdate("logs", [log.id for log in logs[:3]], [(logs[3].id, "session is closed")])],
        time.time(),
    )
    assert (outcome.acked, outcome.rejected) == (3, 1)
    assert states(store) == {SyncState.ACKED: 3, SyncState.REJECTED: 1}
    reason = store.database.execute_sql(
        "SELECT last_error FROM logs WHERE id = ?", (logs[3].id.bytes,)
    ).fetchone()[0]
    assert reason == "session is closed"
    assert store.outbox.backlog(time.time()).logs == 0


def test_a_whole_message_receipt_acks_through_the_message_id(store: LocalStore) -> None:
    store.add_logs([make_log() for _ in range(6)])
    first, second = claim(store, 2, max_records=3)
    store.outbox.apply_receipts(
        [ReceiptUpdate("logs", first.ids, [], whole_message=first.message_id)], time.time()
    )
    assert states(store) == {SyncState.PUBLISHED: 3, SyncState.ACKED: 3}
    # A later receipt for rows already acked changes nothing and is harmless.
    again = store.outbox.apply_receipts([ReceiptUpdate("logs", first.ids, [])], time.time())
    assert again.acked == 0
    assert second.message_id != first.message_id


def test_a_receipt_for_requeued_rows_still_acks_them(store: LocalStore) -> None:
    logs = [make_log() for _ in range(3)]
    store.add_logs(logs)
    (batch,) = claim(store)
    store.outbox.requeue("logs", [batch.message_id])
    assert states(store) == {SyncState.PENDING: 3}
    store.outbox.apply_receipts(
        [ReceiptUpdate("logs", batch.ids, [], whole_message=batch.message_id)], time.time()
    )
    assert states(store) == {SyncState.ACKED: 3}  # late receipt: not sent a third time


def test_requeued_rows_are_resent_and_known_as_resent(store: LocalStore) -> None:
    store.add_logs([make_log() for _ in range(3)])
    (batch,) = claim(store)
    assert not batch.resent
    assert store.outbox.requeue("logs", [batch.message_id]) == 3
    (again,) = claim(store)
    assert again.ids == batch.ids and again.resent


def test_a_retry_scheduled_far_ahead_is_due_after_the_clock_went_back(store: LocalStore) -> None:
    store.add_logs([make_log()])
    (batch,) = claim(store)
    now = time.time()
    store.outbox.requeue("logs", [batch.message_id], next_attempt_at=now + 60)
    assert claim(store, now=now) == []  # not yet
    (again,) = claim(store, now=now + 61)
    store.outbox.requeue("logs", [again.message_id], next_attempt_at=now + 60)
    # The wall clock jumped back a day: "in 60 s" now lies a day ahead, beyond any
    # delay we ever set, so it is due rather than stuck.
    assert len(claim(store, now=now - 86_400)) == 1


def test_backlog_counts_unsynced_rows_and_the_oldest_age(store: LocalStore) -> None:
    store.add_logs([make_log() for _ in range(3)])
    backlog = store.outbox.backlog(time.time() + 100)
    assert backlog.logs == 3 and backlog.events == 0 and backlog.clips == 0
    assert backlog.oldest_unsynced_age_s is not None and backlog.oldest_unsynced_age_s >= 99


def test_pruning_removes_only_old_synced_rows(store: LocalStore) -> None:
    logs = [make_log() for _ in range(4)]
    store.add_logs(logs)
    (batch,) = claim(store, max_records=2)
    store.outbox.apply_receipts([ReceiptUpdate("logs", batch.ids, [])], 1000.0)
    assert store.outbox.prune_synced(older_than=999.0) == 0
    assert store.outbox.prune_synced(older_than=1001.0) == 2
    remaining = {UUID(bytes=bytes(r[0])) for r in store.database.execute_sql("SELECT id FROM logs")}
    assert remaining == {logs[2].id, logs[3].id}


def test_the_claim_query_uses_the_partial_index(store: LocalStore) -> None:
    plan = store.database.execute_sql(
        "EXPLAIN QUERY PLAN SELECT seq FROM logs WHERE state < 4 AND state = 0 "
        "AND (next_attempt_at <= 0 OR next_attempt_at > 1) ORDER BY seq LIMIT 10"
    ).fetchall()
    assert "logs_unsynced" in str(plan)


def test_rows_a_receipt_leaves_out_are_sent_again_later(store: LocalStore) -> None:
    logs = [make_log() for _ in range(3)]
    store.add_logs(logs)
    (batch,) = claim(store)
    now = time.time()
    outcome = store.outbox.apply_receipts(
        [ReceiptUpdate("logs", [logs[0].id], [], for_message=batch.message_id)],
        now,
        retry_left_out_at=now + 30,
    )
    assert (outcome.acked, outcome.left_out) == (1, 2)
    assert states(store) == {SyncState.ACKED: 1, SyncState.PENDING: 2}
    assert claim(store, now=now) == []  # not at once: the ingest could not take them now
    (again,) = claim(store, now=now + 31)
    assert again.ids == [logs[1].id, logs[2].id]
