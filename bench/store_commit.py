"""What synchronous=FULL costs, and what group commit buys back.

    python bench/store_commit.py [--dir /path/on/the/sd/card]

Run it on the box's own storage (an SD card's fsync is 10-100 times slower than
an SSD's). For each of synchronous=FULL and NORMAL (WAL mode both):
  * bare: one INSERT per transaction with the sqlite3 module (the floor);
  * add_log from 1 thread: the store's path, one record per call;
  * add_log from 8 threads: the same, callers sharing commits (group commit);
  * add_logs of 500: a producer that hands over batches.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.buffer.config import BufferConfig, Durability
from agent.buffer.store import LocalStore, StoreIdentity
from protocol import LogRecord, LogSource, new_id, utc_now


def record() -> LogRecord:
    return LogRecord(
        id=new_id(),
        occurred_at=utc_now(),
        source=LogSource.MARKER,
        type="marker",
        data={"n": "x" * 200},
    )


def bare(path: Path, mode: str, count: int) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=wal")
    connection.execute(f"PRAGMA synchronous={mode}")
    connection.execute("CREATE TABLE t (id BLOB PRIMARY KEY, body TEXT)")
    rows = [(new_id().bytes, record().model_dump_json()) for _ in range(count)]
    started = time.perf_counter()
    for row in rows:
        connection.execute("BEGIN")
        connection.execute("INSERT INTO t VALUES (?, ?)", row)
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def with_store(
    path: Path, durability: Durability, threads: int, per_thread: int, batch: int
) -> tuple[float, int]:
    store = LocalStore(
        BufferConfig(durability=durability, reserve_bytes=0),
        path=path,
        identity=StoreIdentity("org1", "bench"),
    )
    store.open()
    records = [[record() for _ in range(per_thread)] for _ in range(threads)]
    commits_before = store._writer.commits  # type: ignore[union-attr]

    def produce(mine: list[LogRecord]) -> None:
        if batch == 1:
            for item in mine:
                store.add_log(item)
        else:
            for start in range(0, len(mine), batch):
                store.add_logs(mine[start : start + batch])

    workers = [threading.Thread(target=produce, args=(mine,)) for mine in records]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    commits = store._writer.commits - commits_before  # type: ignore[union-attr]
    store.close()
    return threads * per_thread / elapsed, commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="Where to put the test databases.")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sideline-commit-", dir=args.dir))
    try:
        print(f"in {work}; {args.count} records per case (records/s, commits)")
        results: dict[str, dict[str, str]] = {}
        for durability in (Durability.FULL, Durability.NORMAL):
            mode = durability.value
            column = results.setdefault(mode, {})
            column["bare insert, 1 per commit"] = (
                f"{bare(work / f'bare-{mode}.db', mode, args.count):>9,.0f}"
            )
            for label, threads, batch in (
                ("add_log, 1 thread", 1, 1),
                ("add_log, 8 threads (group commit)", 8, 1),
                ("add_logs of 500, 1 thread", 1, 500),
            ):
                per_thread = args.count // threads if batch == 1 else args.count * 20
                rate, commits = with_store(
                    work / f"{label[:8]}-{threads}-{batch}-{mode}.db",
                    durability,
                    threads,
                    per_thread,
                    batch,
                )
                column[label] = f"{rate:>9,.0f} ({commits} commits)"
        print(f"{'':38} {'FULL':>24} {'NORMAL':>24}")
        for label in results["full"]:
            print(f"{label:38} {results['full'][label]:>24} {results['normal'][label]:>24}")
        full = float(results["full"]["bare insert, 1 per commit"].replace(",", ""))
        normal = float(results["normal"]["bare insert, 1 per commit"].replace(",", ""))
        print(f"cost of FULL per commit on this disk: {1000 / full - 1000 / normal:.2f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
