"""Crashes: a worker killed before its commit, a broker killed holding a backlog.

Either way every record ends up stored exactly once: the broker re-delivers what
a worker never acknowledged, and the box re-sends what was never receipted.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from peewee import Database

import protocol as p
from cloud.models import Log
from sideline.services.mosquitto import MosquittoBroker
from tests.cloud.factories import make_device, make_org
from tests.cloud.ingest.helpers import cloud_config, log_batch, running_ingest
from tests.cloud.ingest.resender import ResendingPublisher
from tests.fixtures.services import MQTT_ADMIN, BrokerFactory
from tests.procs import child_env, sideline_argv
from tests.waiting import wait_until


@contextmanager
def writes_blocked(db_url: str) -> Iterator[None]:
    """Hold a lock that stops every ingest transaction before it can commit."""
    if db_url.startswith("sqlite"):
        connection = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    server = psycopg2.connect(db_url)
    try:
        with server.cursor() as cursor:
            cursor.execute('LOCK TABLE "log" IN ACCESS EXCLUSIVE MODE')
        yield
    finally:
        server.rollback()
        server.close()


def _waiting_on_lock(db_url: str) -> bool:
    if db_url.startswith("sqlite"):
        time.sleep(1.5)  # no way to look inside SQLite's busy wait: give it time
        return True
    with psycopg2.connect(db_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        row = cursor.fetchone()
        return row is not None and bool(row[0])


def _start_worker(
    tmp_path: Path, broker: MosquittoBroker, db_url: str, worker_id: str, *, extra: str = ""
) -> subprocess.Popen[bytes]:
    config = tmp_path / "cloud.toml"
    config.write_text(
        f'database_url = "{db_url}"\nlog_level = "DEBUG"\n[mqtt]\nhost = "{broker.host}"\n'
        f'port = {broker.port}\nusername = "{MQTT_ADMIN[0]}"\npassword = "{MQTT_ADMIN[1]}"\n'
        + extra
    )
    log = tmp_path / f"{worker_id}.log"
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            sideline_argv("cloud", "ingest", "--config", str(config), "--worker-id", worker_id),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
    wait_until(
        lambda: "running" in log.read_text() or process.poll() is not None,
        timeout_s=60,
        what="worker",
    )
    assert process.poll() is None, log.read_text()
    return process


def test_a_worker_killed_before_its_commit_loses_nothing(
    tmp_path: Path, db: Database, db_url: str, broker_factory: BrokerFactory
) -> None:
    broker = broker_factory()
    org = make_org()
    device = make_device(org)
    topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.LOGS))
    batch = log_batch(org.slug, device.id, 25)
    # Re-sends only after a minute: what arrives sooner came from the broker's re-delivery.
    box = ResendingPublisher(broker, *MQTT_ADMIN, org=org.slug, device=device.id, resend_after_s=60)
    first = _start_worker(tmp_path, broker, db_url, "crashy")
    try:
        with writes_blocked(db_url):
            box.send(topic, batch)
            wait_until(
                lambda: _waiting_on_lock(db_url),
                timeout_s=20,
                what="the worker to block in its transaction",
            )
            first.kill()  # SIGKILL between receive and commit
            first.wait()
        assert Log.select().count() == 0
        second = _start_worker(tmp_path, broker, db_url, "crashy")  # same session: re-delivery
        try:
            assert box.wait_all_receipted(30), "the unacknowledged message was not re-delivered"
        finally:
            second.terminate()
            second.wait(30)
        assert box.resends == 0
        assert sorted(log.id for log in Log.select()) == sorted(r.id for r in batch.records)
    finally:
        box.close()
        if first.poll() is None:
            first.kill()


def _broker_crash_with_backlog(
    db_url: str, broker_factory: BrokerFactory, batches: int, per_batch: int
) -> tuple[int, int]:
    broker = broker_factory()
    org = make_org()
    device = make_device(org)
    topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.LOGS))
    sent = [log_batch(org.slug, device.id, per_batch) for _ in range(batches)]
    config = cloud_config(broker, db_url, receive_maximum=2, max_messages_per_transaction=1)
    with running_ingest(config):
        box = ResendingPublisher(broker, *MQTT_ADMIN, org=org.slug, device=device.id)
        try:
            with writes_blocked(db_url):  # a slow worker: the broker holds the backlog
                for batch in sent:
                    box.send(topic, batch)
                wait_until(
                    lambda: box.client.want_write() is False, timeout_s=10, what="all published"
                )
                time.sleep(0.3)  # the PUBACKs are in: the broker has taken everything
                broker.kill()
                broker.start()
            assert box.wait_all_receipted(120), f"{len(box.pending)} batches never receipted"
        finally:
            box.close()
    stored = [log.id for log in Log.select(Log.id)]
    assert len(stored) == len(set(stored)) == batches * per_batch
    assert set(stored) == {r.id for b in sent for r in b.records}
    return len(stored), box.resends


def test_a_broker_killed_with_a_backlog_loses_nothing(
    db: Database, db_url: str, broker_factory: BrokerFactory
) -> None:
    stored, resends = _broker_crash_with_backlog(db_url, broker_factory, batches=20, per_batch=20)
    assert stored == 400
    print(f"re-sent {resends} batches after the broker crash")


@pytest.mark.slow
def test_a_broker_killed_with_a_large_backlog_loses_nothing(
    db: Database, db_url: str, broker_factory: BrokerFactory
) -> None:
    stored, resends = _broker_crash_with_backlog(db_url, broker_factory, batches=200, per_batch=100)
    assert stored == 20_000
    print(f"re-sent {resends} batches after the broker crash")
