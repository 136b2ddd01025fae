"""Drain 100,000 buffered log records from the agent's store through real Mosquitto to the receipt.

    python bench/drain.py [--records 100000] [--record-bytes 350] [--ingest-workers 1]

The clock runs from the moment sync starts until the last receipt has been
applied to the store (the ingest committed, the agent marked every row ACKED).
The ingest is the cloud's own: ``sideline cloud ingest`` processes (one by
default; more split the load through one ``$share`` group) writing to a fresh
PostgreSQL database (the machine's server at 127.0.0.1:5432, or a throwaway
cluster), where the box is registered as ``sideline cloud device add`` does.

Printed beside it, measured in the same run on the same machine:
  * bare paho QoS 1: the same batch payloads published by a plain paho client
    (loop_start, on_publish counting PUBACKs) to a topic nobody reads;
  * bare insert: the same rows inserted into the same PostgreSQL database the
    ingest's way (``cloud.ingest.bulk.insert_ignore``, pre-encoded, one batch per
    transaction; ``bench/ingest.py``'s), before and after the drain.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from agent.buffer.config import BufferConfig  # noqa: E402
from agent.buffer.outbox import ClaimedBatch  # noqa: E402
from agent.buffer.store import LocalStore, StoreIdentity  # noqa: E402
from agent.clock import SystemClock  # noqa: E402
from agent.sync.batches import ENVELOPE_BUDGET, assemble  # noqa: E402
from agent.sync.config import MqttConfig, SyncConfig  # noqa: E402
from agent.sync.link import MqttLink  # noqa: E402
from agent.sync.publisher import RecordPublisher  # noqa: E402
from bench.ingest import bare_insert, settle  # noqa: E402
from cloud.db import open_database  # noqa: E402
from cloud.models import Organisation  # noqa: E402
from protocol import (  # noqa: E402
    DeviceState,
    LogBatch,
    LogRecord,
    LogSource,
    Status,
    decode_as,
    encode,
    new_id,
    utc_now,
)
from sideline.services.mosquitto import MosquittoBroker  # noqa: E402
from sideline.services.postgres import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    PostgresCluster,
    TemporaryDatabase,
    server_answers,
)
from tests.agent.sync.cloud_ingest import (  # noqa: E402
    IngestProcess,
    prepare_cloud_database,
    register_box,
)
from tests.fixtures.services import DEFAULT_ACL, MQTT_ADMIN  # noqa: E402

ORG, DEVICE = "org1", "bench-dev"
TARGET = 20_000


def make_records(count: int, size: int) -> list[LogRecord]:
    probe = LogRecord(
        id=new_id(), occurred_at=utc_now(), source=LogSource.MARKER, type="marker", data={"n": ""}
    )
    pad = max(0, size - len(probe.model_dump_json(exclude_none=True)))
    return [
        LogRecord(
            id=new_id(),
            occurred_at=utc_now(),
            source=LogSource.MARKER,
            type="marker",
            data={"n": "x" * pad},
        )
        for _ in range(count)
    ]


def batch_payloads(records: list[LogRecord], sync: SyncConfig, device: str) -> list[bytes]:
    """The batches the agent sends for these records (same limits, same splicing)."""
    budget = sync.batch_max_bytes - ENVELOPE_BUDGET
    payloads: list[bytes] = []
    bodies: list[bytes] = []
    size = 0
    for record in records:
        body = record.model_dump_json(exclude_none=True).encode()
        if bodies and (len(bodies) == sync.batch_max_records or size + len(body) + 1 > budget):
            batch = ClaimedBatch("logs", new_id(), [b"\0" * 16] * len(bodies), bodies)
            payloads.append(assemble(batch, org=ORG, device_id=device, sent_at=utc_now()))
            bodies, size = [], 0
        bodies.append(body)
        size += len(body) + 1
    if bodies:
        batch = ClaimedBatch("logs", new_id(), [b"\0" * 16] * len(bodies), bodies)
        payloads.append(assemble(batch, org=ORG, device_id=device, sent_at=utc_now()))
    return payloads


def bare_publish(
    broker: MosquittoBroker, payloads: list[bytes], records: int, inflight: int
) -> float:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
    client.username_pw_set(*MQTT_ADMIN)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    acked = threading.Semaphore(0)
    client.on_publish = lambda *_: acked.release()
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    connected.wait(10)
    topic = "bench/bare/logs"  # outside the ingest's subscriptions: the broker only takes them
    started = time.perf_counter()
    for payload in payloads:
        client.publish(topic, payload, qos=1)
    for _ in payloads:
        acked.acquire()
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return records / elapsed


def drain(
    broker: MosquittoBroker, store: LocalStore, sync: SyncConfig, total: int, password: str
) -> float:
    def status(state: DeviceState) -> bytes:
        return encode(Status(org=ORG, device_id=DEVICE, state=state))

    link = MqttLink(
        MqttConfig(port=broker.port, username=DEVICE, password=password),
        org=ORG,
        device_id=DEVICE,
        online_status=lambda: status(DeviceState.ONLINE),
        offline_status=status(DeviceState.OFFLINE),
        max_in_flight=3 * sync.window_messages,
    )
    publisher = RecordPublisher(store, link, sync, clock=SystemClock(), max_retry_delay_s=600)
    started = time.perf_counter()
    threads = [
        threading.Thread(target=link.run, daemon=True),
        threading.Thread(target=publisher.run, daemon=True),
    ]
    for thread in threads:
        thread.start()
    while publisher.stats.records_acked < total:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    publisher.stop()
    link.stop(drain_s=1)
    for thread in threads:
        thread.join(10)
    link.close()
    return total / elapsed


class PostgresServer:
    """The machine's PostgreSQL, or a throwaway cluster when none answers."""

    def __init__(self) -> None:
        self.cluster: PostgresCluster | None = None
        self.admin_url = DEFAULT_ADMIN_URL
        if not server_answers(self.admin_url):
            self.cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="sideline-bench-pg-")))
            self.cluster.start()
            self.admin_url = self.cluster.admin_url

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


def backend_cpu(database: Any) -> dict[int, tuple[float, float]]:
    """(user, system) CPU seconds of each PostgreSQL backend serving this database, but ours."""
    rows = database.execute_sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    ).fetchall()
    found = {}
    for (pid,) in rows:
        try:
            times = psutil.Process(int(pid)).cpu_times()
            found[int(pid)] = (times.user, times.system)
        except psutil.Error:
            continue
    return found


def the_same_rows(payloads: list[bytes]) -> list[LogBatch]:
    """The batches exactly as the ingest decodes them (ids, times, message ids)."""
    return [decode_as(LogBatch, payload, what="log batch") for payload in payloads]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--record-bytes", type=int, default=350)
    parser.add_argument(
        "--ingest-workers",
        type=int,
        default=1,
        help="`sideline cloud ingest` processes splitting the load through one $share group.",
    )
    parser.add_argument("--writers", type=int, default=2, help="writer threads per ingest worker")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sideline-drain-"))
    server = PostgresServer()
    temp_db = TemporaryDatabase(server.admin_url, prefix="sideline_bench_drain")
    url = temp_db.create()
    broker: MosquittoBroker | None = None
    ingests: list[IngestProcess] = []
    database = open_database(url)
    try:
        # The box registered as `sideline cloud device add` does: the ingest refuses strangers.
        prepare_cloud_database(url, org=ORG)
        box = register_box(url, device_id=DEVICE)
        broker = MosquittoBroker(
            work / "mosquitto",
            users={MQTT_ADMIN[0]: MQTT_ADMIN[1], DEVICE: box.password},
            acl=DEFAULT_ACL,
        )
        broker.start()
        ingests = [
            IngestProcess(work, broker, url, group="ingest", ingest={"writers": args.writers})
            for _ in range(args.ingest_workers)
        ]
        load = os.getloadavg()
        sync = SyncConfig()
        records = make_records(args.records, args.record_bytes)
        body = len(records[0].model_dump_json(exclude_none=True))
        print(
            f"{args.records} log records of {body} bytes; batches of <= {sync.batch_max_records} "
            f"records and <= {sync.batch_max_bytes} bytes; window {sync.window_messages} messages; "
            f"{args.ingest_workers} ingest worker(s) x {args.writers} writers; PostgreSQL"
        )

        store = LocalStore(
            BufferConfig(reserve_bytes=0),
            path=work / "buffer.db",
            identity=StoreIdentity(ORG, DEVICE),
        )
        store.open()
        started = time.perf_counter()
        for start in range(0, len(records), 5000):
            store.add_logs(records[start : start + 5000])
        store_rate = len(records) / (time.perf_counter() - started)

        payloads = batch_payloads(records, sync, DEVICE)
        publish_rate = bare_publish(broker, payloads, len(records), 3 * sync.window_messages)

        org_id = Organisation.get(Organisation.slug == ORG).id
        batches = the_same_rows(payloads)
        settle(database)
        insert_before = bare_insert(database, org_id, batches, device=DEVICE)
        database.execute_sql("TRUNCATE log")
        settle(database)

        for ingest in ingests:
            ingest.start()
        consumers = [psutil.Process(ingest.pid) for ingest in ingests]
        mosquitto_proc = psutil.Process(broker.pid)

        def cpu_now() -> list[tuple[float, float]]:
            """(user, system) CPU seconds: agent (this process), ingest, Mosquitto, PostgreSQL."""
            mine = psutil.Process().cpu_times()
            backends = backend_cpu(database)
            return [
                (mine.user, mine.system),
                (
                    sum(c.cpu_times().user for c in consumers),
                    sum(c.cpu_times().system for c in consumers),
                ),
                tuple(mosquitto_proc.cpu_times()[:2]),  # type: ignore[list-item]
                (sum(u for u, _ in backends.values()), sum(s for _, s in backends.values())),
            ]

        # Backends that start during the drain count from zero.
        before = cpu_now()
        psutil.cpu_times_percent(interval=None)
        wall = time.perf_counter()
        drain_rate = drain(broker, store, sync, len(records), box.password)
        wall = time.perf_counter() - wall
        after = cpu_now()
        machine = psutil.cpu_times_percent(interval=None)  # since the call before the drain
        split = [(a[0] - b[0], a[1] - b[1]) for a, b in zip(after, before, strict=True)]
        cpu = [user + system for user, system in split]

        (stored,) = database.execute_sql(
            "SELECT count(*) FROM log WHERE device_id = %s", (DEVICE,)
        ).fetchone()
        acked = store.database.execute_sql("SELECT count(*) FROM logs WHERE state = 4").fetchone()[
            0
        ]
        store.close()
        totals = [ingest.stop() for ingest in ingests]

        # The machine's speed drifts: the bare insert again, after, into an emptied table.
        database.execute_sql("TRUNCATE log")
        settle(database)
        insert_after = bare_insert(database, org_id, batches, device=DEVICE)
        insert_rate = (insert_before + insert_after) / 2

        print(
            f"  bare batched insert (same rows, same PostgreSQL db, the ingest's COPY path)"
            f"\n                                            {insert_rate:>10,.0f} records/s  "
            f"(before {insert_before:,.0f}, after {insert_after:,.0f})"
        )
        print(f"  store.add_logs (rows built from models)   {store_rate:>10,.0f} records/s")
        print(
            f"  bare paho QoS 1 publish, same batches     {publish_rate:>10,.0f} records/s  "
            f"({len(payloads)} messages)"
        )
        print("  DRAIN store -> Mosquitto -> ingest commit -> receipt -> store ACKED")
        print(f"                                            {drain_rate:>10,.0f} records/s")
        print(
            f"  ratio to target {TARGET:,}/s: {drain_rate / TARGET:.2f}   "
            f"to bare publish: {drain_rate / publish_rate:.2f}   "
            f"to bare insert: {drain_rate / insert_rate:.2f}"
        )
        print(
            f"  CPU during the drain ({wall:.1f} s): agent {cpu[0]:.1f} s, "
            f"ingest ({args.ingest_workers} worker(s)) {cpu[1]:.1f} s, "
            f"mosquitto {cpu[2]:.1f} s, postgres backends {cpu[3]:.1f} s; "
            f"load average before: {load[0]:.2f}"
        )
        print(
            "  CPU per record (user + system): "
            + ", ".join(
                f"{name} {1e6 * user / len(records):.0f} + {1e6 * system / len(records):.0f} us"
                for name, (user, system) in zip(
                    ("agent", "ingest", "mosquitto", "postgres"), split, strict=True
                )
            )
        )
        print(
            f"  the whole machine during the drain: {100 - machine.idle:.0f} % busy "
            f"(steal {getattr(machine, 'steal', 0.0):.0f} %), of which these processes "
            f"{100 * sum(cpu) / wall / (os.cpu_count() or 1):.0f} %"
        )
        cores = os.cpu_count() or 1
        bound = len(records) / max(cpu[0], cpu[1] / args.ingest_workers, sum(cpu) / cores)
        print(
            f"  CPU-bound estimate on an idle {cores}-core machine: {bound:,.0f} records/s "
            f"(ratio to target {bound / TARGET:.2f}); the difference is the machine's other load"
        )
        duplicates = sum(t.duplicate for t in totals)
        print(
            f"  check: cloud log table holds {stored:,} records of {DEVICE}, store ACKED "
            f"{acked:,} (of {len(records):,}); the ingest saw {duplicates:,} duplicates"
        )
        if stored != len(records) or acked != len(records):
            raise SystemExit("records missing: the drain is not complete")
    finally:
        for ingest in ingests:
            ingest.kill()
        if broker is not None:
            broker.stop()
        database.close()
        temp_db.drop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
