"""No loss, no duplicates in effect: the agent killed at random, the broker killed with a
backlog, S3 stopped — and afterwards every record and clip produced is in the cloud exactly once.

The agent runs as a child process (the real daemon, with a producer at the parts
seam). SIGKILL takes it down at random moments while it logs and uploads; the
broker is SIGKILLed while the (deliberately slow) ingest has a backlog, which
loses messages the broker had PUBACKed; S3 is killed and restarted later. A
final run without production drains everything, then the cloud database, the
object store and the local store are checked against the producer's ledger.

CI runs the bounded version; the full one (20 agent kills, 5 broker kills) is
``slow``. The ingest comes from :func:`tests.agent.sync.conftest.start_ingest`:
swapping in the real one there changes this test too.
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
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest

from agent.sync.config import S3Config
from agent.sync.objectstore import S3ObjectStore
from sideline.services.seaweed import S3Identity, SeaweedS3
from tests.agent.factories import make_mp4
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


def run_faults(
    plan: Plan, tmp_path: Path, broker_factory: BrokerFactory, own_s3: SeaweedS3
) -> None:
    rng = random.Random()
    broker = broker_factory()
    device = Device("org1", f"fault-{rng.randrange(1 << 30):x}", "fault-secret")
    register_device(broker, device.id, device.password)
    identity = S3Identity(
        device.id,
        f"{device.id}-key",
        "fault-s3-secret",
        actions=[f"Write:{S3_BUCKET}/org1/{device.id}/*", f"Read:{S3_BUCKET}/org1/{device.id}/*"],
    )
    own_s3.add_identity(identity)
    device = Device(
        device.org, device.id, device.password, identity.access_key, identity.secret_key
    )
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
    ingest = start_ingest(broker, tmp_path / "cloud.db", seaweed=own_s3, delay_s=0.03)
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
    try:
        for run in range(plan.agent_kills):
            if run == outage_start and plan.s3_outage_runs:
                outage.begin()
            process = agent(produce=True)
            running.append(process)
            time.sleep(rng.uniform(1.0, 2.5))
            if run in broker_kill_runs:
                broker.kill()  # with the slow ingest's backlog queued inside it
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
                ledger.done[kind] <= ingest.ledger.ids(kind) for kind in ("logs", "events", "clips")
            )

        try:
            wait_until(drained, timeout_s=180, what="the final run to drain the store")
            print(f"fault test: drained in {time.monotonic() - drain_started:.1f} s")
            final.send_signal(signal.SIGTERM)
            assert final.wait(60) == 0, (tmp_path / "agent.log").read_text()[-3000:]
        finally:
            final.kill()
            final.wait()
    finally:
        for process in running:  # nothing outlives a failed test
            process.kill()
            process.wait()
        outage.end()
        ingest.stop()
        agent_log.close()

    # Every record the store accepted is in the cloud exactly once; nothing else is.
    for kind in ("logs", "events", "clips"):
        cloud = ingest.ledger.ids(kind)
        assert ledger.done[kind] <= cloud, f"{kind}: {len(ledger.done[kind] - cloud)} lost"
        assert cloud <= ledger.intents[kind], f"{kind}: records nobody produced"
        assert ingest.ledger.count(kind) == len(cloud)
    assert len(ledger.done["clips"]) >= plan.agent_kills  # clips were really being made

    # Each clip in the cloud points at its object, complete and checksummed.
    s3 = own_s3.client()
    for record in ingest.ledger.bodies("clips"):
        head = s3.head_object(Bucket=S3_BUCKET, Key=record["object_key"])
        assert head["ContentLength"] == record["size_bytes"]
        assert head["Metadata"]["sha256"] == record["sha256"]
        produced = ledger.clip_sha.get(UUID(record["id"]))
        assert produced in (None, record["sha256"])

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
    )  # type: ignore[arg-type]
    assert objects.pending_uploads(f"org1/{device.id}/") == []
    deliveries = sum(ingest.ledger.deliveries(k) for k in ("logs", "events", "clips"))
    stored = sum(ingest.ledger.count(k) for k in ("logs", "events", "clips"))
    produced = {kind: len(ledger.done[kind]) for kind in ("logs", "events", "clips")}
    print(
        f"fault test: produced {produced}; {stored} records stored once; "
        f"{deliveries - stored} re-deliveries absorbed"
    )


def test_faults_bounded(tmp_path: Path, broker_factory: BrokerFactory, seaweed: SeaweedS3) -> None:
    # The shared object store, frozen with SIGSTOP for one run (restarting one costs ~15 s).
    plan = Plan(agent_kills=4, broker_kills=1, s3_outage_runs=1, s3_kill=False)
    run_faults(plan, tmp_path, broker_factory, seaweed)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_faults_full(tmp_path: Path, broker_factory: BrokerFactory, own_s3: SeaweedS3) -> None:
    plan = Plan(agent_kills=20, broker_kills=5, s3_outage_runs=3, s3_kill=True)
    run_faults(plan, tmp_path, broker_factory, own_s3)
