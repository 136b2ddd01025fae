"""Memory stays flat with a huge backlog: records wait in SQLite, not in paho's queue.

    python bench/sync_offline_rss.py [--records 1000000] [--seconds 60] [--json]

Fills the store with N log records (~350 bytes each), then runs the real MQTT
link and record publisher through two offline periods while sampling RSS:
  1. the broker is unreachable (the link keeps reconnecting with backoff);
  2. the broker is up but nobody receipts: the window of unreceipted messages
     fills, times out and is re-sent, over and over.
Prints RSS before, the maximum during, and the growth, beside the size of the
backlog on disk; with --json, one JSON object (used by the slow test).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from agent.buffer.config import BufferConfig
from agent.buffer.store import LocalStore, StoreIdentity
from agent.clock import SystemClock
from agent.sync.config import MqttConfig, SyncConfig
from agent.sync.link import MqttLink
from agent.sync.publisher import RecordPublisher
from protocol import DeviceState, LogRecord, LogSource, Status, encode, new_id, utc_now
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.process import free_port
from tests.fixtures.services import DEFAULT_ACL, MQTT_ADMIN

ORG, DEVICE, PASSWORD = "org1", "rss-dev", "rss-secret"


def fill(store: LocalStore, count: int) -> float:
    started = time.perf_counter()
    chunk = 10_000
    for start in range(0, count, chunk):
        store.add_logs(
            [
                LogRecord(
                    id=new_id(),
                    occurred_at=utc_now(),
                    source=LogSource.MARKER,
                    type="marker",
                    data={"n": "x" * 220},
                )
                for _ in range(min(chunk, count - start))
            ]
        )
    return time.perf_counter() - started


def sample_while(seconds: float, samples: list[int]) -> None:
    process = psutil.Process()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(process.memory_info().rss)
        time.sleep(0.5)


def run_link(
    port: int, store: LocalStore, sync: SyncConfig, seconds: float, samples: list[int]
) -> dict[str, int]:
    def status(state: DeviceState) -> bytes:
        return encode(Status(org=ORG, device_id=DEVICE, state=state))

    link = MqttLink(
        MqttConfig(
            port=port, username=DEVICE, password=PASSWORD, reconnect_min_s=0.2, reconnect_max_s=2
        ),
        org=ORG,
        device_id=DEVICE,
        online_status=lambda: status(DeviceState.ONLINE),
        offline_status=status(DeviceState.OFFLINE),
        max_in_flight=3 * sync.window_messages,
    )
    publisher = RecordPublisher(store, link, sync, clock=SystemClock(), max_retry_delay_s=600)
    threads = [
        threading.Thread(target=link.run, daemon=True),
        threading.Thread(target=publisher.run, daemon=True),
    ]
    for thread in threads:
        thread.start()
    sample_while(seconds, samples)
    paho_queue = len(link._client._out_messages)  # what paho holds in memory right now
    publisher.stop()
    link.stop()
    for thread in threads:
        thread.join(10)
    link.close()
    return {
        "messages_sent": publisher.stats.messages_sent,
        "resent_messages": publisher.stats.resent_messages,
        "paho_queue": paho_queue,
        "connects": link.stats.connects,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="Per offline period.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sideline-rss-"))
    broker = MosquittoBroker(
        work / "mqtt", users={MQTT_ADMIN[0]: MQTT_ADMIN[1], DEVICE: PASSWORD}, acl=DEFAULT_ACL
    )
    try:
        store = LocalStore(
            BufferConfig(reserve_bytes=0),
            path=work / "buffer.db",
            identity=StoreIdentity(ORG, DEVICE),
        )
        store.open()
        fill_s = fill(store, args.records)
        db_bytes = sum(p.stat().st_size for p in work.glob("buffer.db*"))
        sync = SyncConfig(receipt_timeout_s=2.0)
        baseline = psutil.Process().memory_info().rss
        unreachable: list[int] = []
        down = run_link(free_port(), store, sync, args.seconds, unreachable)
        broker.start()
        unreceipted: list[int] = []
        up = run_link(broker.port, store, sync, args.seconds, unreceipted)
        started = time.perf_counter()
        backlog = store.outbox.backlog(time.time())
        backlog_query_s = time.perf_counter() - started
        store.close()
        result = {
            "records": args.records,
            "fill_s": round(fill_s, 1),
            "db_bytes": db_bytes,
            "rss_baseline": baseline,
            "rss_max_unreachable": max(unreachable),
            "rss_max_unreceipted": max(unreceipted),
            "rss_growth": max(unreachable + unreceipted) - baseline,
            "backlog_logs": backlog.logs,
            "backlog_query_s": round(backlog_query_s, 3),
            "unreachable": down,
            "unreceipted": up,
        }
        if args.json:
            print(json.dumps(result))
            return
        mib = 1024**2
        print(
            f"{args.records:,} records queued in {fill_s:.0f} s; store on disk {db_bytes / mib:,.0f} MiB"
        )
        print(f"  RSS before sync                      {baseline / mib:8.1f} MiB")
        print(
            f"  RSS max, broker unreachable {args.seconds:3.0f} s   {max(unreachable) / mib:8.1f} MiB  ({down['connects']} connects)"
        )
        print(
            f"  RSS max, connected, no receipts {args.seconds:3.0f} s {max(unreceipted) / mib:8.1f} MiB  "
            f"({up['messages_sent']} messages sent, {up['resent_messages']} re-sent, paho queue {up['paho_queue']})"
        )
        print(
            f"  growth {result['rss_growth'] / mib:.1f} MiB for a backlog of {backlog.logs:,} "
            f"({db_bytes / max(1, result['rss_growth']):.0f}x less than the backlog's size on disk)"
        )
        print(f"  backlog query on {backlog.logs:,} unsynced rows: {backlog_query_s * 1000:.0f} ms")
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
