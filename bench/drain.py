"""Drain 100,000 buffered log records from the agent's store through real Mosquitto to the receipt.

    python bench/drain.py [--records 100000] [--record-bytes 350]

The clock runs from the moment sync starts until the last receipt has been
applied to the store (the ingest committed, the agent marked every row ACKED).
The ingest is the test stand-in (tests/standin_ingest.py), by default two
worker processes in one shared-subscription group as the cloud runs its ingest:
each decodes every batch with the protocol models, commits to SQLite
(synchronous=FULL, one transaction per message) and then sends the receipt.

Printed beside it, measured in the same run on the same machine:
  * bare paho QoS 1: the same batch payloads published by a plain paho client
    (loop_start, on_publish counting PUBACKs) to a topic nobody reads;
  * bare insert: the same rows inserted with executemany into a twin table of
    the same database (same pragmas), 5,000 rows per transaction.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from agent.buffer.config import BufferConfig  # noqa: E402
from agent.buffer.outbox import ClaimedBatch  # noqa: E402
from agent.buffer.schema import _record_table  # noqa: E402
from agent.buffer.store import LocalStore, StoreIdentity  # noqa: E402
from agent.clock import SystemClock  # noqa: E402
from agent.sync.batches import ENVELOPE_BUDGET, assemble  # noqa: E402
from agent.sync.config import MqttConfig, SyncConfig  # noqa: E402
from agent.sync.link import MqttLink  # noqa: E402
from agent.sync.publisher import RecordPublisher  # noqa: E402
from protocol import DeviceState, LogRecord, LogSource, Status, encode, new_id, utc_now  # noqa: E402
from sideline.services.mosquitto import MosquittoBroker  # noqa: E402
from tests.fixtures.services import DEFAULT_ACL, MQTT_ADMIN  # noqa: E402
from tests.procs import child_env  # noqa: E402

ORG, DEVICE, PASSWORD = "org1", "bench-dev", "bench-secret"
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


def bare_insert(path: Path, records: list[LogRecord]) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=wal")
    connection.execute("PRAGMA synchronous=full")
    for statement in _record_table("logs_bare"):
        connection.execute(statement)
    rows = [(r.id.bytes, time.time(), r.model_dump_json(exclude_none=True)) for r in records]
    started = time.perf_counter()
    for start in range(0, len(rows), 5000):
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO logs_bare (id, created_at, body) VALUES (?, ?, ?)",
            rows[start : start + 5000],
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return len(rows) / elapsed


def batch_payloads(records: list[LogRecord], sync: SyncConfig) -> list[bytes]:
    budget = sync.batch_max_bytes - ENVELOPE_BUDGET
    payloads, bodies, size = [], [], 0
    for record in records:
        body = record.model_dump_json(exclude_none=True).encode()
        if bodies and (len(bodies) == sync.batch_max_records or size + len(body) + 1 > budget):
            batch = ClaimedBatch("logs", new_id(), [b"\0" * 16] * len(bodies), bodies)
            payloads.append(assemble(batch, org=ORG, device_id="bare", sent_at=utc_now()))
            bodies, size = [], 0
        bodies.append(body)
        size += len(body) + 1
    if bodies:
        batch = ClaimedBatch("logs", new_id(), [b"\0" * 16] * len(bodies), bodies)
        payloads.append(assemble(batch, org=ORG, device_id="bare", sent_at=utc_now()))
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
    topic = f"sideline/v1/{ORG}/bare/logs"  # no subscriber: the broker only takes them
    started = time.perf_counter()
    for payload in payloads:
        client.publish(topic, payload, qos=1)
    for _ in payloads:
        acked.acquire()
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return records / elapsed


def drain(broker: MosquittoBroker, store: LocalStore, sync: SyncConfig, total: int) -> float:
    def status(state: DeviceState) -> bytes:
        return encode(Status(org=ORG, device_id=DEVICE, state=state))

    link = MqttLink(
        MqttConfig(port=broker.port, username=DEVICE, password=PASSWORD),  # type: ignore[arg-type]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--record-bytes", type=int, default=350)
    parser.add_argument(
        "--ingest-workers",
        type=int,
        default=2,
        help="Stand-in ingest processes splitting the load through the $share group, as the "
        "cloud runs them (1: the single-consumer figure).",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sideline-drain-"))
    broker = MosquittoBroker(
        work / "mosquitto", users={MQTT_ADMIN[0]: MQTT_ADMIN[1], DEVICE: PASSWORD}, acl=DEFAULT_ACL
    )
    broker.start()
    ingests = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.standin_ingest",
                "--port",
                str(broker.port),
                "--user",
                MQTT_ADMIN[0],
                "--password",
                MQTT_ADMIN[1],
                "--db",
                str(work / "cloud.db"),
                "--client-id",
                f"standin-ingest-{worker}",
            ],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.DEVNULL,
        )
        for worker in range(args.ingest_workers)
    ]
    try:
        load = os.getloadavg()
        sync = SyncConfig()
        records = make_records(args.records, args.record_bytes)
        body = len(records[0].model_dump_json(exclude_none=True))
        print(
            f"{args.records} log records of {body} bytes; batches of <= {sync.batch_max_records} "
            f"records and <= {sync.batch_max_bytes} bytes; window {sync.window_messages} messages"
        )

        store = LocalStore(
            BufferConfig(reserve_bytes=0),
            path=work / "buffer.db",
            identity=StoreIdentity(ORG, DEVICE),
        )
        store.open()
        insert_rate = bare_insert(work / "buffer.db", records)
        started = time.perf_counter()
        for start in range(0, len(records), 5000):
            store.add_logs(records[start : start + 5000])
        store_rate = len(records) / (time.perf_counter() - started)

        payloads = batch_payloads(records, sync)
        publish_rate = bare_publish(broker, payloads, len(records), 3 * sync.window_messages)
        time.sleep(1.0)  # the ingest is subscribed (shared subscription) by now
        consumers = [psutil.Process(ingest.pid) for ingest in ingests]
        mosquitto_proc = psutil.Process(broker.pid)

        def cpu_now() -> tuple[float, float, float]:
            return (
                time.process_time(),
                sum(sum(c.cpu_times()[:2]) for c in consumers),
                sum(mosquitto_proc.cpu_times()[:2]),
            )

        before = cpu_now()
        wall = time.perf_counter()
        drain_rate = drain(broker, store, sync, len(records))
        wall = time.perf_counter() - wall
        after = cpu_now()
        cpu = [b - a for a, b in zip(before, after, strict=True)]

        stored = (
            sqlite3.connect(work / "cloud.db").execute("SELECT count(*) FROM records").fetchone()[0]
        )
        acked = store.database.execute_sql("SELECT count(*) FROM logs WHERE state = 4").fetchone()[
            0
        ]
        store.close()
        print(f"  bare batched insert (same rows, same db)  {insert_rate:>10,.0f} records/s")
        print(f"  store.add_logs (rows built from models)   {store_rate:>10,.0f} records/s")
        print(
            f"  bare paho QoS 1 publish, same batches     {publish_rate:>10,.0f} records/s  ({len(payloads)} messages)"
        )
        print("  DRAIN store -> Mosquitto -> ingest commit -> receipt -> store ACKED")
        print(f"                                            {drain_rate:>10,.0f} records/s")
        print(
            f"  ratio to target {TARGET:,}/s: {drain_rate / TARGET:.2f}   "
            f"to bare publish: {drain_rate / publish_rate:.2f}   to bare insert: {drain_rate / insert_rate:.2f}"
        )
        print(
            f"  CPU during the drain ({wall:.1f} s): agent {cpu[0]:.1f} s, "
            f"ingest ({args.ingest_workers} worker(s)) {cpu[1]:.1f} s, "
            f"mosquitto {cpu[2]:.1f} s; load average before: {load[0]:.2f}"
        )
        cores = os.cpu_count() or 1
        bound = len(records) / max(cpu[0], cpu[1] / args.ingest_workers, sum(cpu) / cores)
        print(
            f"  CPU-bound estimate on an idle {cores}-core machine: {bound:,.0f} records/s "
            f"(ratio to target {bound / TARGET:.2f}); the difference is the machine's other load"
        )
        print(
            f"  check: ingest committed {stored:,} records, store ACKED {acked:,} (of {len(records):,})"
        )
        if stored != len(records) or acked != len(records):
            raise SystemExit("records missing: the drain is not complete")
    finally:
        for ingest in ingests:
            ingest.terminate()
            ingest.wait(10)
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
