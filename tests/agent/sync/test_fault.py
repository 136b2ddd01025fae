"""No loss, no duplicates in effect: the agent killed at random, the broker killed with a
backlog, S3 stopped — and afterwards every record and clip produced is in the cloud exactly once.

The agent runs as a child process (the real daemon, with a producer at the parts
seam). SIGKILL takes it down at random moments while it logs and uploads; the
broker is SIGKILLed while the ingest has a backlog (its writer held up by a lock
on the record tables, as a slow database would, so that messages pile up
un-acknowledged), which loses what the broker had not saved; S3 is stopped and
started again later. The ingest is the cloud's own (``sideline cloud ingest``
with a persistent session, on PostgreSQL) and lives through all of it. A final
run without production drains everything, then the cloud's tables, the object
store and the local store are checked against the producer's ledger.

CI runs the bounded version; the full one (20 agent kills, 5 broker kills) is
``slow``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import psycopg2
import pytest

from agent.sync.config import S3Config
from agent.sync.objectstore import S3ObjectStore
from cloud.models import DetectionEventRecord, Log
from sideline.services.seaweed import SeaweedS3
from tests.agent.factories import make_mp4
from tests.agent.sync.cloud_ingest import register_box
from tests.agent.sync.conftest import (
    Device,
    agent_config,
    config_json,
    register_device,
    start_ingest,
    wait_until,
)
from tests.fixtures.services import S3_BUCKET, BrokerFactory
from tests.procs import child_env


@dataclass(frozen=True)
class Plan:
    agent_kills: int
    broker_kills: int
    s3_outage_runs: int  # agent runs during which S3 is down
    s3_kill: bool  # kill and restart S3 (slow: ~15 s) rather than freeze it (SIGSTOP)


@dataclass
class Ledger:
    intents: dict[str, set[UUID]]
    done: dict[str, set[UUID]]
    clip_sha: dict[UUID, str]


def read_ledger(path: Path) -> Ledger:
    ledger = Ledger(defaultdict(set), defaultdict(set), {})
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue  # a line cut short by SIGKILL
        what, kind, raw = parts[:3]
        record_id = UUID(raw)
        (ledger.intents if what == "intent" else ledger.done)[kind].add(record_id)
        if kind == "clips" and len(parts) == 4:
            ledger.clip_sha[record_id] = parts[3]
    return ledger


@pytest.fixture
def own_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """An object store this test may kill (the session one is shared)."""
    server = SeaweedS3(tmp_path_factory.mktemp("fault-seaweed"))
    server.start()
    server.create_bucket(S3_BUCKET)
    yield server
    server.kill()  # its data is thrown away: no need to wait for a clean stop


class S3Outage:
    """Stops S3: a killed server (connections refused) or a frozen one (requests hang)."""

    def __init__(self, server: SeaweedS3, kill: bool) -> None:
        self.server = server
        self.kill = kill
        self.down = False

    def begin(self) -> None:
        if self.kill:
            self.server.kill()
        else:
            os.kill(self.server.pid or 0, signal.SIGSTOP)
        self.down = True

    def end(self) -> None:
        if not self.down:
            return
        if self.kill:
            self.server.start()
        else:
            os.kill(self.server.pid or 0, signal.SIGCONT)
        self.down = False


# Logs and events only: the clip verifier keeps reading and updating clips meanwhile,
# so that a writer waiting on the lock is the only thing that can be waiting on it.
_HELD_TABLES = ", ".join(f'"{model._meta.table_name}"' for model in (Log, DetectionEventRecord))


@contextmanager
def ingest_held_up(database_url: str, timeout_s: float = 10.0) -> Iterator[bool]:
    """Lock the log and event tables against writes, so that the ingest's writers stop
    inside their transactions with messages un-acknowledged and the broker keeps what
    follows queued: a consumer backlog. Yields whether a writer was seen waiting on
    the lock within ``timeout_s``."""
    holder = psycopg2.connect(database_url)
    probe = psycopg2.connect(database_url)
    probe.autocommit = True
    try:
        with holder.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {_HELD_TABLES} IN EXCLUSIVE MODE")  # reads go on
        waiting = False
        deadline = time.monotonic() + timeout_s
        with probe.cursor() as cursor:
            while not waiting and time.monotonic() < deadline:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%'"
                )
                row = cursor.fetchone()
                waiting = row is not None and bool(row[0])
                time.sleep(0.05)
        yield waiting
    finally:
        probe.close()
        holder.rollback()
        holder.close()


def run_faults(
    plan: Plan,
    tmp_path: Path,
    broker_factory: BrokerFactory,
    own_s3: SeaweedS3,
    cloud_db_url: str,
) -> None:
    rng = random.Random()
    broker = broker_factory()
    box = register_box(cloud_db_url, device_id=f"fault-{rng.randrange(1 << 30):x}", seaweed=own_s3)
    register_device(broker, box.id, box.password)
    device = Device(box.org, box.id, box.password, box.s3_key, box.s3_secret)
    config = agent_config(
        tmp_path,
        device,
        broker,
        own_s3,
        sync={"receipt_timeout_s": 3, "window_messages": 4, "batch_max_records": 40},
        s3={"timeout_s": 3},
    )
    clips = [make_mp4(tmp_path / "src" / f"small{i}.mp4", frames=10 + i) for i in range(3)]
    clips.append(
        make_mp4(tmp_path / "src" / "large.mp4", frames=12, width=640, height=480, noise=True)
    )
    ledger_path = tmp_path / "ledger.txt"
    # A persistent session (worker id), as an operator runs it: the broker keeps the
    # ingest's backlog while it is away, as far as the broker itself survives.
    ingest = start_ingest(
        broker, cloud_db_url, tmp_path / "cloud", seaweed=own_s3, worker_id=f"w-{device.id}"
    )
    cloud = ingest.records(device)
    agent_log = (tmp_path / "agent.log").open("ab")

    def agent(produce: bool) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.agent.sync.fault_agent",
                config_json(config),
                str(ledger_path),
                json.dumps([str(p) for p in clips]),
                "1" if produce else "0",
            ],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=agent_log,
        )

    broker_kill_runs = set(rng.sample(range(plan.agent_kills), plan.broker_kills))
    outage_start = rng.randrange(max(1, plan.agent_kills - plan.s3_outage_runs))
    outage = S3Outage(own_s3, plan.s3_kill)
    running: list[subprocess.Popen[bytes]] = []
    backlogged_kills = 0
    started = time.monotonic()
    try:
        for run in range(plan.agent_kills):
            if run == outage_start and plan.s3_outage_runs:
                outage.begin()
            process = agent(produce=True)
            running.append(process)
            time.sleep(rng.uniform(1.0, 2.5))
            if run in broker_kill_runs:
                with ingest_held_up(cloud_db_url) as backlog:
                    time.sleep(rng.uniform(0.3, 1.0))  # more piles up behind the stuck writer
                    broker.kill()
                backlogged_kills += backlog
                time.sleep(rng.uniform(0.2, 1.0))
                broker.start()
            time.sleep(rng.uniform(0.2, 1.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            if run >= outage_start + plan.s3_outage_runs - 1:
                outage.end()
        outage.end()

        ledger = read_ledger(ledger_path)
        drain_started = time.monotonic()
        final = agent(produce=False)
        store_path = config.device.data_dir / "buffer.db"

        def drained() -> bool:
            connection = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=5)
            try:
                waiting = sum(
                    connection.execute(f"SELECT count(*) FROM {kind} WHERE state < 4").fetchone()[0]
                    for kind in ("logs", "events", "clips")
                )
            finally:
                connection.close()
            return waiting == 0 and all(
                ledger.done[kind] <= cloud.ids(kind) for kind in ("logs", "events", "clips")
            )

        try:
            wait_until(drained, timeout_s=180, what="the final run to drain the store")
            print(f"fault test: drained in {time.monotonic() - drain_started:.1f} s")
            final.send_signal(signal.SIGTERM)
            assert final.wait(60) == 0, (tmp_path / "agent.log").read_text()[-3000:]
        finally:
            final.kill()
            final.wait()
        # The same worker all along: it reconnected after every broker kill.
        assert ingest.process.alive(), ingest.process.log()[-3000:]
    finally:
        for process in running:  # nothing outlives a failed test
            process.kill()
            process.wait()
        outage.end()
        totals = ingest.stop()
        agent_log.close()

    # Every record the store accepted is in the cloud's tables exactly once; nothing else is.
    for kind in ("logs", "events", "clips"):
        ids = cloud.ids(kind)
        assert ledger.done[kind] <= ids, f"{kind}: {len(ledger.done[kind] - ids)} lost"
        assert ids <= ledger.intents[kind], f"{kind}: records nobody produced"
        assert cloud.count(kind) == len(ids)
    assert len(ledger.done["clips"]) >= plan.agent_kills  # clips were really being made
    assert cloud.dead_letters() == []  # the ingest refused nothing of this device's

    # Each clip in the cloud was verified against its object, complete and checksummed.
    s3 = own_s3.client()
    for clip in cloud.clips():
        assert clip["status"] == "ready", clip
        head = s3.head_object(Bucket=S3_BUCKET, Key=clip["object_key"])
        assert head["ContentLength"] == clip["size_bytes"]
        assert head["Metadata"]["sha256"] == clip["sha256"]
        produced = ledger.clip_sha.get(UUID(str(clip["id"])))
        assert produced in (None, clip["sha256"])

    # The local store is consistent: intact, everything acknowledged, no upload left half-done.
    connection = sqlite3.connect(config.device.data_dir / "buffer.db")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for kind in ("logs", "events", "clips"):
            states = dict(connection.execute(f"SELECT state, count(*) FROM {kind} GROUP BY state"))
            assert set(states) <= {4}, f"{kind}: {states}"
        assert connection.execute("SELECT count(*) FROM upload_parts").fetchone() == (0,)
        assert connection.execute(
            "SELECT count(*) FROM clips WHERE upload_id IS NOT NULL"
        ).fetchone() == (0,)
    finally:
        connection.close()
    objects = S3ObjectStore(
        S3Config(
            endpoint_url=own_s3.endpoint_url,
            addressing_style="path",
            access_key_id=own_s3.admin.access_key,
            secret_access_key=own_s3.admin.secret_key,
        )
    )
    assert objects.pending_uploads(f"org1/{device.id}/") == []
    stored = {kind: cloud.count(kind) for kind in ("logs", "events", "clips")}
    extra = {kind: stored[kind] - len(ledger.done[kind]) for kind in stored}
    print(
        f"fault test: {plan.agent_kills} agent kills, {plan.broker_kills} broker kills "
        f"({backlogged_kills} with the ingest's writer held up), S3 down for "
        f"{plan.s3_outage_runs} run(s); stored once in the cloud: {stored} "
        f"(of which committed by the store as it was killed, unconfirmed: {extra}); "
        f"the ingest absorbed {totals.duplicate} re-delivered records in "
        f"{totals.messages} messages; {time.monotonic() - started:.0f} s"
    )
    assert backlogged_kills == plan.broker_kills, "a broker kill found no backlog"


def test_faults_bounded(
    tmp_path: Path, broker_factory: BrokerFactory, seaweed: SeaweedS3, cloud_db_url: str
) -> None:
    # The shared object store, frozen with SIGSTOP for one run (restarting one costs ~15 s).
    plan = Plan(agent_kills=4, broker_kills=1, s3_outage_runs=1, s3_kill=False)
    run_faults(plan, tmp_path, broker_factory, seaweed, cloud_db_url)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_faults_full(
    tmp_path: Path, broker_factory: BrokerFactory, own_s3: SeaweedS3, cloud_db_url: str
) -> None:
    plan = Plan(agent_kills=20, broker_kills=5, s3_outage_runs=3, s3_kill=True)
    run_faults(plan, tmp_path, broker_factory, own_s3, cloud_db_url)
