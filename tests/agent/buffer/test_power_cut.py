"""The store survives a power cut: what it confirmed is there afterwards, intact.

The store lives on an ext4 file system on a loop device (tests/agent/power.py). A
child writes logs, promises and clips as fast as it can and prints each one once
the store's call has returned; the parent SIGKILLs it at a random moment and at
once takes what the loop device holds (its backing file), which is the disk a
power cut leaves: fsynced data, and whatever else the kernel happened to write
back, but nothing of the page cache. That copy is mounted again (ext4 replays its
journal) and the store opened on it: ``integrity_check`` passes, and every log,
promise and clip the child saw confirmed is in it, every clip file whole.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from uuid import UUID

import pytest

from tests.agent.buffer.conftest import open_store
from tests.agent.power import LoopDisk, loop_devices_work
from tests.procs import child_env

NOT_HERE = loop_devices_work()


def cut_once(tmp_path: Path, run: int, rng: random.Random) -> tuple[int, int, int]:
    """One power cut; returns how many (logs, promises, clips) were confirmed."""
    disk = LoopDisk(tmp_path / f"disk{run}.img", tmp_path / "mnt", size_mib=128).attach()
    lines: list[str] = []
    errors = tmp_path / f"writer{run}.log"
    try:
        with errors.open("w") as stderr:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.agent.buffer.power_cut_writer",
                    str(disk.mount),
                    str(run),
                ],
                env=child_env(),
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        with child:
            assert child.stdout is not None
            output = child.stdout
            writing = threading.Event()

            def read() -> None:
                for line in output:
                    lines.append(line)
                    writing.set()

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            writing.wait(60)  # the child is up and has committed its first batch
            time.sleep(rng.uniform(0.2, 2.0))
            child.kill()  # the power goes: the process, and (below) the page cache
            child.wait(10)
            reader.join(10)
        after = disk.power_cut(tmp_path / f"cut{run}.img").attach()
    except BaseException:
        disk.detach()
        raise
    try:
        confirmed = [line.split() for line in lines if line.endswith("\n")]
        logs = {UUID(i) for kind, *ids in confirmed if kind == "logs" for i in ids}
        promises = {UUID(parts[1]) for parts in confirmed if parts[0] == "promise"}
        clips = {UUID(parts[1]): parts[2] for parts in confirmed if parts[0] == "clip"}
        assert logs, errors.read_text()[-3000:] or "the child wrote nothing"
        path = after.mount / "buffer.db"
        connection = sqlite3.connect(path)
        try:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            connection.close()
        store = open_store(path)
        try:
            table = store.tables.logs
            stored = {row.id for row in table.select(table.id)}
            assert logs <= stored, f"{len(logs - stored)} confirmed logs lost"
            still_promised = {p.id for p in store.promised_clips()}
            rows = {row.id: row for row in store.tables.clips.select()}
            for clip_id in promises:
                assert clip_id in still_promised or clip_id in rows, f"promise {clip_id} lost"
            for clip_id, sha in clips.items():
                row = rows[clip_id]
                assert row.sha256 == sha and clip_id not in still_promised
                assert Path(row.path).stat().st_size == row.size_bytes
        finally:
            store.close()
    finally:
        after.detach()
        for image in (tmp_path / f"disk{run}.img", tmp_path / f"cut{run}.img"):
            image.unlink(missing_ok=True)
    return len(logs), len(promises), len(clips)


@pytest.mark.skipif(NOT_HERE is not None, reason=f"no loop devices here: {NOT_HERE}")
def test_the_store_keeps_what_it_confirmed_through_power_cuts(tmp_path: Path) -> None:
    rng = random.Random()
    totals = [cut_once(tmp_path, run, rng) for run in range(2)]
    assert all(logs > 0 for logs, _, _ in totals)
    assert sum(clips for _, _, clips in totals) > 0  # clips were being committed too


@pytest.mark.slow
@pytest.mark.skipif(NOT_HERE is not None, reason=f"no loop devices here: {NOT_HERE}")
def test_twenty_power_cuts(tmp_path: Path) -> None:
    rng = random.Random()
    totals = [cut_once(tmp_path, run, rng) for run in range(20)]
    print(f"20 power cuts: confirmed (logs, promises, clips) per cut {totals}, none lost")
