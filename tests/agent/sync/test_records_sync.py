"""Records from the store to the cloud's ingest and back as receipts, through real Mosquitto."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from agent.buffer.models import SyncState
from sideline.services.mosquitto import MosquittoBroker
from tests.agent.buffer.conftest import open_store
from tests.agent.factories import make_event, make_log
from tests.agent.harness import running_daemon
from tests.agent.sync.conftest import Device, RunningIngest, agent_config, start_ingest
from tests.waiting import wait_until


def state_counts(daemon: object, table: str = "logs") -> dict[int, int]:
    store = daemon.store  # type: ignore[attr-defined]
    rows = store.database.execute_sql(f"SELECT state, count(*) FROM {table} GROUP BY state")
    return {int(state): int(count) for state, count in rows.fetchall()}


def test_records_are_synced_only_on_the_ingests_receipt(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, ingest: RunningIngest
) -> None:
    config = agent_config(tmp_path, device, mosquitto, sync={"batch_max_records": 50})
    logs = [make_log(payload_bytes=300) for _ in range(400)]
    events = [make_event() for _ in range(30)]
    with running_daemon(config) as daemon:
        daemon.store.add_logs(logs)
        daemon.store.add_events(events)
        wait_until(lambda: daemon.store.outbox.backlog(0).logs == 0, what="logs acked")
        wait_until(lambda: daemon.store.outbox.backlog(0).events == 0, what="events acked")
        assert state_counts(daemon) == {SyncState.ACKED: 400}
        assert daemon.publisher.stats.messages_sent >= 8  # batches of at most 50
    cloud = ingest.records(device)
    assert cloud.ids("logs") == {log.id for log in logs}
    assert cloud.count("logs") == 400
    assert cloud.ids("events") == {event.id for event in events}
    assert cloud.count("events") == 30


def test_unreceipted_messages_are_sent_again_and_stored_once(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, cloud_db_url: str
) -> None:
    config = agent_config(tmp_path, device, mosquitto, sync={"receipt_timeout_s": 0.5})
    logs = [make_log() for _ in range(50)]
    with running_daemon(config) as daemon:
        daemon.store.add_logs(logs)  # no ingest yet: the broker takes them, nobody receipts
        wait_until(lambda: daemon.publisher.stats.resent_messages >= 2, what="re-sends")
        assert state_counts(daemon) != {SyncState.ACKED: 50}
        late = start_ingest(mosquitto, cloud_db_url, tmp_path / "cloud")
        try:
            wait_until(lambda: daemon.store.outbox.backlog(0).logs == 0, what="logs acked")
        finally:
            totals = late.stop()
    # Nothing was queued for the late ingest (no session then): what it stored came
    # from re-sends, and each record is there once.
    cloud = late.records(device)
    assert cloud.ids("logs") == {log.id for log in logs}
    assert cloud.count("logs") == 50
    assert totals.inserted == 50


def test_a_row_that_is_not_json_any_more_is_rejected_locally_and_the_rest_flows(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    device: Device,
    ingest: RunningIngest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    config = agent_config(tmp_path, device, mosquitto)
    logs = [make_log() for _ in range(10)]
    store = open_store(config.device.data_dir / "buffer.db")
    store.add_logs(logs)
    # Damage one row on disk, as a bad sector or a bug would.
    store.database.execute_sql(
        "UPDATE logs SET body = ? WHERE id = ?",
        ('{"id": "7", "occurred_at": \x01', logs[3].id.bytes),
    )
    store.close()
    with running_daemon(config) as daemon:
        wait_until(lambda: daemon.store.outbox.backlog(0).logs == 0, what="the others acked")
        assert state_counts(daemon) == {SyncState.ACKED: 9, SyncState.REJECTED: 1}
        reason = daemon.store.database.execute_sql(
            "SELECT last_error FROM logs WHERE state = 5"
        ).fetchone()[0]
        assert "corrupt row" in reason
        assert daemon.publisher.alive(5)
    assert ingest.records(device).ids("logs") == {log.id for log in logs} - {logs[3].id}
    assert "marked rejected" in caplog.text


def test_a_record_the_ingest_refuses_is_rejected_by_name_and_the_rest_flows(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, ingest: RunningIngest
) -> None:
    config = agent_config(tmp_path, device, mosquitto, sync={"receipt_timeout_s": 0.5})
    logs = [make_log() for _ in range(10)]
    store = open_store(config.device.data_dir / "buffer.db")
    store.add_logs(logs)
    # Valid JSON, wrong schema: the ingest keeps the other nine, refuses this one by
    # id in the receipt (with the reason) and keeps the payload as a dead letter.
    bad = logs[5].model_dump_json().replace('"marker","type"', '"bogus","type"')
    store.database.execute_sql("UPDATE logs SET body = ? WHERE id = ?", (bad, logs[5].id.bytes))
    store.close()
    with running_daemon(config) as daemon:
        wait_until(lambda: daemon.store.outbox.backlog(0).logs == 0, what="the others acked")
        assert state_counts(daemon) == {SyncState.ACKED: 9, SyncState.REJECTED: 1}
        (reason,) = daemon.store.database.execute_sql(
            "SELECT last_error FROM logs WHERE state = 5"
        ).fetchone()
        assert "source" in reason
        assert daemon.publisher.stats.records_rejected == 1
    cloud = ingest.records(device)
    assert cloud.ids("logs") == {log.id for log in logs} - {logs[5].id}
    assert [code for code, _ in cloud.dead_letters()] == ["schema"]


def test_a_record_the_ingest_cannot_name_is_found_on_resend_and_the_rest_flows(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, ingest: RunningIngest
) -> None:
    config = agent_config(tmp_path, device, mosquitto, sync={"receipt_timeout_s": 0.5})
    logs = [make_log() for _ in range(10)]
    store = open_store(config.device.data_dir / "buffer.db")
    store.add_logs(logs)
    # A body without its id: the ingest stores the others and cannot refuse this one
    # by name, so its receipt leaves it out; the agent sends it again alone, checks it
    # fully on that re-send and rejects it locally.
    body = json.loads(logs[5].model_dump_json())
    del body["id"]
    store.database.execute_sql(
        "UPDATE logs SET body = ? WHERE id = ?", (json.dumps(body), logs[5].id.bytes)
    )
    store.close()
    with running_daemon(config) as daemon:
        wait_until(lambda: daemon.store.outbox.backlog(0).logs == 0, what="the others acked")
        assert state_counts(daemon) == {SyncState.ACKED: 9, SyncState.REJECTED: 1}
        assert daemon.publisher.stats.corrupt_rows == 1
    assert ingest.records(device).ids("logs") == {log.id for log in logs} - {logs[5].id}
