"""Ingest throughput into PostgreSQL from the real broker, against the bare insert.

    python bench/ingest.py [--records 100000] [--batch 500]

Runs, on this machine, with a throwaway Mosquitto and a fresh PostgreSQL
database (the machine's server at 127.0.0.1:5432, or a throwaway cluster):

1. bare insert: the same rows, pre-built, inserted the way the ingest inserts
   them (``cloud.ingest.bulk.insert_ignore``), one batch per transaction, no
   broker, no decoding — and, for reference, with peewee's ``insert_many``;
2. one ingest worker (``sideline cloud ingest`` in its own process) fed the
   same records as LogBatch messages through the broker; the clock stops at
   the last receipt (receipts are published after each commit);
3. re-delivery of the same records: no row may change;
4. two workers in one shared-subscription group, fed new records: each message
   is written by exactly one of them and every record is stored once.

It prints each figure with its limit and ratio (issue 5: ≥ 20,000 records/s
and ≥ 50 % of the bare insert; re-delivery changes nothing; no duplicates).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

import protocol as p  # noqa: E402
from cloud.db import open_database  # noqa: E402
from cloud.ingest.bulk import PreparedRow, insert_ignore  # noqa: E402
from cloud.ingest.encoding import RowEncoder  # noqa: E402
from cloud.ingest.rows import KIND_SPECS, RecordContext  # noqa: E402
from cloud.migrations import migrate  # noqa: E402
from cloud.models import Device, Log, Organisation  # noqa: E402
from core.credentials import hash_password  # noqa: E402
from sideline.services.mosquitto import MosquittoBroker  # noqa: E402
from sideline.services.postgres import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    PostgresCluster,
    TemporaryDatabase,
    server_answers,
)

ADMIN = ("bench-admin", "bench-secret")
ORG, DEVICE = "bench-org", "bench-box"
LIMIT_RATE = 20_000
LIMIT_RATIO = 0.5


def make_batches(count: int, size: int) -> list[p.LogBatch]:
    start = p.utc_now()
    batches = []
    for first in range(0, count, size):
        records = [
            p.LogRecord(
                id=p.new_id(),
                occurred_at=start + timedelta(milliseconds=first + i),
                source=p.LogSource.MARKER,
                type="marker",
                camera_id="main",
                data={"n": first + i, "player": "Sam", "note": "first touch, then a pass inside"},
            )
            for i in range(min(size, count - first))
        ]
        batches.append(p.LogBatch(org=ORG, device_id=DEVICE, records=records))
    return batches


def bare_insert(
    database: object, org_id: object, batches: list[p.LogBatch], device: str = DEVICE
) -> float:
    """The same rows, already encoded, inserted the ingest's way: database time only.
    (``bench/drain.py`` uses it too, for its limit.)"""
    spec = KIND_SPECS["logs"]
    encoder = RowEncoder.for_database(database)  # type: ignore[arg-type]
    rowsets = []
    for batch in batches:
        ctx = RecordContext(org_id, device, batch.message_id, p.utc_now())  # type: ignore[arg-type]
        context = encoder.encode(spec.context_fields, spec.context_values(ctx, None, None))
        parts = encoder.encode_records(spec, batch.records)
        rowsets.append(
            [
                PreparedRow(r.id, device, context, part)
                for r, part in zip(batch.records, parts, strict=True)
            ]
        )
    started = time.perf_counter()
    for rows in rowsets:
        with database.atomic():  # type: ignore[attr-defined]
            insert_ignore(database, spec, rows)  # type: ignore[arg-type]
    return sum(len(b.records) for b in batches) / (time.perf_counter() - started)


def peewee_insert(database: object, org_id: object, batches: list[p.LogBatch]) -> float:
    spec = KIND_SPECS["logs"]
    rowsets = []
    for batch in batches:
        ctx = RecordContext(org_id, DEVICE, batch.message_id, p.utc_now())  # type: ignore[arg-type]
        rowsets.append([spec.to_row(r, ctx, None, None) for r in batch.records])
    started = time.perf_counter()
    for rows in rowsets:
        with database.atomic():  # type: ignore[attr-defined]
            Log.insert_many(rows, fields=spec.fields).on_conflict_ignore().as_rowcount().execute()
    return sum(len(b.records) for b in batches) / (time.perf_counter() - started)


class Box:
    """Publishes batches like a device and counts the receipts."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(*ADMIN)
        self.receipts: dict[object, int] = {}
        self.stored = 0
        self.done = threading.Condition()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        topic = str(p.Topic("sideline", ORG, DEVICE, p.Channel.RECEIPTS))
        self.client.subscribe(topic, qos=1)
        time.sleep(0.5)

    def _on_message(self, client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        receipt = p.decode_as(p.Receipt, bytes(message.payload))
        with self.done:
            self.receipts[receipt.for_message_id] = self.receipts.get(receipt.for_message_id, 0) + 1
            self.stored += len(receipt.stored)
            self.done.notify_all()

    def send_all(self, payloads: list[bytes], timeout: float = 600.0) -> float:
        """Publish everything; seconds from the first publish to the last receipt."""
        with self.done:
            self.receipts.clear()
            self.stored = 0
        topic = str(p.Topic("sideline", ORG, DEVICE, p.Channel.LOGS))
        started = time.perf_counter()
        for payload in payloads:
            self.client.publish(topic, payload, qos=1)
        with self.done:
            ok = self.done.wait_for(lambda: len(self.receipts) >= len(payloads), timeout)
        if not ok:
            raise SystemExit(f"only {len(self.receipts)} of {len(payloads)} receipts arrived")
        return time.perf_counter() - started


def start_worker(config: Path, name: str, log_dir: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = (log_dir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "sideline", "cloud", "ingest", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )


def stop_worker(process: subprocess.Popen[bytes], log_file: Path) -> dict[str, int]:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    text = log_file.read_text()
    found = re.findall(r"records: (\d+) new, (\d+) already stored", text)
    messages = re.findall(r"stopped: (\d+) messages", text)
    if not found:
        raise SystemExit(f"worker log without final counters:\n{text[-2000:]}")
    return {
        "new": int(found[-1][0]),
        "duplicate": int(found[-1][1]),
        "messages": int(messages[-1]) if messages else 0,
    }


def settle(database: object) -> None:
    """Start each timed phase from the same state: the previous phase's writes on disk
    (no checkpoint running in the middle of the next one), statistics fresh."""
    database.execute_sql("VACUUM ANALYZE log")  # type: ignore[attr-defined]
    database.execute_sql("CHECKPOINT")  # type: ignore[attr-defined]


def table_digest(database: object) -> tuple[int, str]:
    cursor = database.execute_sql(  # type: ignore[attr-defined]
        "SELECT count(*), md5(string_agg(id::text || received_at::text || data::text, ',' "
        "ORDER BY id)) FROM log"
    )
    count, digest = cursor.fetchone()
    return int(count), str(digest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--writers", type=int, default=2, help="writer threads per worker")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sideline-bench-ingest-"))
    cluster = None
    admin_url = DEFAULT_ADMIN_URL
    if not server_answers(admin_url):
        cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="sideline-bench-pg-")))
        cluster.start()
        admin_url = cluster.admin_url
    temp_db = TemporaryDatabase(admin_url, prefix="sideline_bench")
    url = temp_db.create()
    broker = MosquittoBroker(work / "mosquitto", users={ADMIN[0]: ADMIN[1]})
    broker.start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        database = open_database(url)
        migrate(database)
        org = Organisation.create(slug=ORG, name="Bench")
        Device.create(
            id=DEVICE,
            org=org,
            name="bench",
            mqtt_password_hash=hash_password("x"),
            s3_access_key_id="bench-key",
            s3_secret_hash="0" * 64,
        )
        config = work / "cloud.toml"
        config.write_text(
            f'database_url = "{url}"\nlog_level = "INFO"\n[mqtt]\nhost = "{broker.host}"\n'
            f'port = {broker.port}\nusername = "{ADMIN[0]}"\npassword = "{ADMIN[1]}"\n'
            f"[ingest]\nstats_interval_s = 3600\nwriters = {args.writers}\n"
        )
        print(
            f"{args.records:,} log records in batches of {args.batch}, "
            f"{args.writers} writer threads per worker, PostgreSQL {url}"
        )

        batches = make_batches(args.records, args.batch)
        settle(database)
        bare = bare_insert(database, org.id, batches)
        database.execute_sql("TRUNCATE log")
        reference = peewee_insert(database, org.id, batches[: max(1, len(batches) // 5)])
        database.execute_sql("TRUNCATE log")
        payloads = [p.encode(b) for b in batches]

        box = Box(broker)
        workers.append(start_worker(config, "worker-a", work))
        time.sleep(3.0)  # connected and subscribed (its log says when)
        settle(database)
        seconds = box.send_all(payloads)
        rate = args.records / seconds
        count, digest = table_digest(database)
        assert count == args.records, f"{count} rows stored, expected {args.records}"

        again = box.send_all(payloads)
        count_after, digest_after = table_digest(database)
        changed = "none" if (count_after, digest_after) == (count, digest) else "SOME"
        single = stop_worker(workers.pop(), work / "worker-a.log")
        # The machine's speed drifts: measure the bare insert again, after, and compare
        # the worker with the mean of both.
        more = make_batches(args.records, args.batch)
        settle(database)
        bare_after = bare_insert(database, org.id, more)
        bare_mean = (bare + bare_after) / 2
        count, _ = table_digest(database)

        workers.append(start_worker(config, "worker-b1", work))
        workers.append(start_worker(config, "worker-b2", work))
        time.sleep(3.0)
        fresh = make_batches(args.records, args.batch)
        settle(database)
        split_seconds = box.send_all([p.encode(b) for b in fresh])
        count_split, _ = table_digest(database)
        second = stop_worker(workers.pop(), work / "worker-b2.log")
        first = stop_worker(workers.pop(), work / "worker-b1.log")
        twice = sum(1 for n in box.receipts.values() if n > 1)

        print()
        print(
            f"bare insert (same rows, pre-encoded; COPY + INSERT … ON CONFLICT, "
            f"{args.batch} per transaction): {bare_mean:>10,.0f} records/s "
            f"(before the worker {bare:,.0f}, after {bare_after:,.0f})"
        )
        print(
            f"  for reference, peewee insert_many … on_conflict_ignore: {reference:,.0f} records/s"
        )
        print(
            f"one ingest worker from the broker:  {rate:>10,.0f} records/s   "
            f"limit {LIMIT_RATE:,}  ratio {rate / LIMIT_RATE:.2f}   "
            f"vs bare {rate / bare_mean:.0%} (limit {LIMIT_RATIO:.0%})"
        )
        print(
            f"re-delivery of the same {args.records:,} records: rows changed: {changed} "
            f"({count_after:,} rows; worker saw {single['duplicate']:,} already stored, "
            f"{args.records / again:,.0f} records/s)"
        )
        print(
            f"two workers, one $share group: {args.records / split_seconds:,.0f} records/s; "
            f"worker 1 wrote {first['new']:,} in {first['messages']} messages, worker 2 "
            f"{second['new']:,} in {second['messages']} messages; duplicates: "
            f"{first['duplicate'] + second['duplicate']} rows, {twice} messages receipted twice; "
            f"rows {count_split - count:,} of {args.records:,}"
        )
        ok = (
            rate >= LIMIT_RATE
            and rate >= LIMIT_RATIO * bare_mean
            and changed == "none"
            and count_split - count == args.records
            and first["duplicate"] + second["duplicate"] == 0
        )
        print("\nresult:", "meets the limits" if ok else "BELOW a limit (see above)")
    finally:
        for worker in workers:
            worker.kill()
        broker.stop()
        open_database(url).close()
        temp_db.drop()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
