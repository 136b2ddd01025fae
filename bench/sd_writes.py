"""What the box writes to its SD card, per byte of what it keeps: clips and records.

    python bench/sd_writes.py [--minutes 10] [--press-every 60] [--recording both|on|off]

Needs root (a loop device). The whole embedded stack (``bench/agent_stack.py``)
with the agent's data directory alone on an ext4 file system on a loop device,
so the device's own counter (``/sys/block/loopN/stat``, sectors written) counts
every byte the card would be given: clip files, thumbnails, manifests, SQLite's
WAL and checkpoints, the file system's journal and metadata, segments. The box
is a practice hour at a field: a 720p30 camera encoded at 4 Mbit/s, detection
at 5 fps (a detector that finds the test pattern's figures: tracks, zone events,
counts), a heartbeat every 10 s (sent, not stored), a press every ``--press-every`` seconds (20 s
before, 10 s after). The agent's own log lines go to journald on a box
(``Storage=volatile``: RAM); here they go to a file off the card, and are
counted apart.

Printed per run: bytes written to the device per byte of payload (the clips'
MP4 and JPEG bytes plus the records' bytes as sent), against the limit of 2x
with recording off; with recording on, the same and what it means for a 32 GB
card (card-years, for the endurance assumed below). And the log's bytes per hour.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.agent_stack import BoxOptions, BoxStack, test_pattern  # noqa: E402
from tests.agent.detect.conftest import CLASSES  # noqa: E402
from tests.agent.detect.synthetic_models import (  # noqa: E402
    build_colour_detector,
    manifest_for,
    write_model,
)
from tests.agent.power import LoopDisk, loop_devices_work  # noqa: E402

LIMIT = 2.0
CARD_BYTES = 32e9
# A common (not "high endurance") 32 GB TLC card: ~500 program/erase cycles per
# cell, and the card's own write amplification ~2x for the large, sequential writes
# that dominate here: about 32 GB x 500 / 2 = 8 TB the host may write.
CARD_HOST_WRITES = CARD_BYTES * 500 / 2


def device_bytes_written(device: str) -> int:
    fields = Path(f"/sys/block/{Path(device).name}/stat").read_text().split()
    return int(fields[6]) * 512  # sectors written


def payload(data: Path, since: float) -> tuple[int, int, int]:
    """(clip file bytes, record bytes, segment bytes) of what the box kept since ``since``."""
    connection = sqlite3.connect(f"file:{data / 'buffer.db'}?mode=ro", uri=True, timeout=10)
    try:
        (clips,) = connection.execute(
            "SELECT coalesce(sum(disk_bytes), 0) FROM clips WHERE created_at >= ?", (since,)
        ).fetchone()
        records = 0
        for table in ("logs", "events", "clips"):
            (size,) = connection.execute(
                f"SELECT coalesce(sum(length(body)), 0) FROM {table} WHERE created_at >= ?",
                (since,),
            ).fetchone()
            records += int(size)
    finally:
        connection.close()
    segments = sum(p.stat().st_size for p in (data / "segments").rglob("*.ts"))
    return int(clips), records, segments


def run(mode: str, args: argparse.Namespace, work: Path) -> tuple[float, float, int, float]:
    model = write_model(
        work / "model",
        "sd",
        build_colour_detector("yolov8", CLASSES),
        manifest_for("yolov8", CLASSES),
    )
    stack = BoxStack(
        work / mode,
        BoxOptions(
            camera=test_pattern(1280, 720, 30) + "\nbitrate_kbps = 4000",
            pre_seconds=20.0,
            post_seconds=10.0,
            detect_model=model,
            recording=mode == "on",
        ),
    )
    data = stack.root / "agent"
    disk = LoopDisk(work / f"{mode}.img", data, size_mib=2048).attach()
    assert disk.device is not None
    try:
        stack.start()
        time.sleep(35)  # the ring full; the start's own writes (schema, first files) done
        agent = stack.process("agent")
        log = stack.logs / "agent.log"
        log0, io0 = log.stat().st_size, agent.io_counters().write_bytes
        written0, since = device_bytes_written(disk.device), time.time()
        started = time.monotonic()
        presses, next_press = 0, started
        while time.monotonic() - started < args.minutes * 60:
            if time.monotonic() >= next_press:
                stack.press(f"press {presses}")
                presses += 1
                next_press += args.press_every
            time.sleep(0.5)
        time.sleep(12)  # the last post-roll and upload
        os.sync()  # what the page cache still holds is part of the hour's writes
        hours = (time.monotonic() - started) / 3600
        written = device_bytes_written(disk.device) - written0
        process_writes = agent.io_counters().write_bytes - io0
        log_bytes = log.stat().st_size - log0
        clips, records, segments = payload(data, since)
    finally:
        stack.stop()
        disk.detach()
    kept = clips + records
    ratio = written / kept if kept else 0.0
    other = written - clips - segments
    print(
        f"recording {mode}: {args.minutes:g} min, {presses} presses; written to the device "
        f"{written / 1e6:.1f} MB (the agent's process: {process_writes / 1e6:.1f} MB) for a "
        f"payload of {kept / 1e6:.1f} MB (clips {clips / 1e6:.1f}, records {records / 1e3:.1f} kB) "
        f"= {ratio:.2f}x"
        + (f" (limit {LIMIT:g}x: ratio {ratio / LIMIT:.2f})" if mode == "off" else ""),
        flush=True,
    )
    print(
        f"  of which segments {segments / 1e6:.1f} MB; store, manifests and file system "
        f"{other / 1e6:.1f} MB ({other / kept * 100 if kept else 0:.1f} % of the payload); "
        f"log {log_bytes / hours / 1e3:.0f} kB/h (off the card on a box: journald in RAM)",
        flush=True,
    )
    per_day = written / hours * 24
    years = CARD_HOST_WRITES / per_day / 365
    print(
        f"  at this rate around the clock: {per_day / 1e9:.1f} GB/day; a common 32 GB card "
        f"(~{CARD_HOST_WRITES / 1e12:.0f} TB of host writes) lasts {years:.1f} years, "
        f"{years * 6:.1f} years at 4 h of practice a day",
        flush=True,
    )
    return ratio, written / hours, log_bytes, years


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--press-every", type=float, default=60.0)
    parser.add_argument("--recording", choices=["both", "on", "off"], default="both")
    args = parser.parse_args()
    reason = loop_devices_work()
    if reason is not None:
        raise SystemExit(f"cannot run here: {reason}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="sideline-sd-"))
    ok = True
    try:
        for mode in ["off", "on"] if args.recording == "both" else [args.recording]:
            ratio, _, _, _ = run(mode, args, work)
            if mode == "off":
                ok &= 0 < ratio <= LIMIT
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("result: " + ("within the limit" if ok else "CHECK"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
