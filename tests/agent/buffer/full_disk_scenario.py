"""Child process for test_full_disk.py: a store on a real, really full file system.

Run inside a private mount namespace (``unshare``) so that the tmpfs it mounts
disappears with it, whatever happens. Prints one JSON object of observations;
the test makes the assertions.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from agent.buffer.models import SyncState
from agent.buffer.outbox import KINDS
from agent.clock import SystemClock
from agent.interfaces.sinks import StoreUnavailable
from agent.sync.config import SyncConfig
from agent.sync.link_types import DeliveryOutcome, LinkListener, PublishRequest
from agent.sync.publisher import RecordPublisher
from protocol import Channel, Receipt, decode
from tests.agent.buffer.conftest import open_store
from tests.agent.factories import make_clip, make_log


class RecordingLink:
    """Stands in for MqttLink at its narrow seam: 'delivers' and keeps what was published."""

    connected = True

    def __init__(self) -> None:
        self.listeners: list[LinkListener] = []
        self.published: list[PublishRequest] = []

    def add_listener(self, listener: LinkListener) -> None:
        self.listeners.append(listener)

    def publish(self, request: PublishRequest) -> None:
        self.published.append(request)
        if request.on_outcome:
            request.on_outcome(DeliveryOutcome.DELIVERED, "")


def fill(path: Path) -> int:
    """Write until ENOSPC, in ever smaller blocks, so that not a byte is left."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    written += os.write(fd, b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written


def main(mount_point: Path) -> dict[str, Any]:
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)], check=True)
    facts: dict[str, Any] = {}
    store = open_store(
        mount_point / "buffer.db",
        reserve_bytes=128 * 1024,
        write_timeout_s=1.5,
        quota_bytes=10**9,
        hard_limit_bytes=10**9,
    )
    facts["reserve_held_at_start"] = store.reserve.held
    clip = make_clip(mount_point / "clips", size=600 * 1024, thumbnail=False)
    store.add_clip(clip)
    clips = store.tables.clips
    clips.update(state=SyncState.ACKED).where(clips.id == clip.id).execute()

    link = RecordingLink()
    publisher = RecordPublisher(
        store,
        link,
        SyncConfig(receipt_timeout_s=600),
        clock=SystemClock(),
        max_retry_delay_s=60,
    )
    thread = threading.Thread(target=publisher.run, daemon=True)
    thread.start()

    facts["filler_bytes"] = fill(mount_point / "filler")
    stored_ids: list[str] = []
    refusals: list[str] = []
    for _ in range(200):  # until the store says it cannot
        batch = [make_log(payload_bytes=400) for _ in range(50)]
        try:
            store.add_logs(batch)
            stored_ids += [str(r.id) for r in batch]
        except StoreUnavailable as exc:
            refusals.append(str(exc))
            if len(refusals) >= 2:
                break
    facts["stored_while_filling"] = len(stored_ids)
    facts["refusals"] = refusals
    facts["clip_file_evicted"] = not clip.path.exists()
    facts["reserve_released"] = not store.reserve.held
    facts["writer_alive_when_full"] = store.writer_alive(10)
    facts["publisher_alive_when_full"] = thread.is_alive()
    facts["integrity_when_full"] = store.database.execute_sql("PRAGMA quick_check").fetchone()[0]

    # Space comes back: everything resumes, nothing stored was lost.
    (mount_point / "filler").unlink()
    more = [make_log() for _ in range(20)]
    store.add_logs(more)
    stored_ids += [str(r.id) for r in more]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and publisher.stats.messages_sent == 0:
        time.sleep(0.1)
    # Receipt everything that was published, as the ingest would.
    for request in list(link.published):
        batch_message: Any = decode(request.channel, request.payload)
        receipt = Receipt(
            org="org1",
            device_id="dev1",
            kind=request.channel.value,
            for_message_id=batch_message.message_id,
            stored=[r.id for r in batch_message.records],
        )
        publisher.on_message(Channel.RECEIPTS, receipt.model_dump_json().encode())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and publisher.stats.records_acked == 0:
        time.sleep(0.1)
    facts["acked_after_recovery"] = publisher.stats.records_acked
    publisher.stop()
    thread.join(10)
    store.close()

    reopened = open_store(mount_point / "buffer.db")
    present = {
        str(__import__("uuid").UUID(bytes=bytes(row[0])))
        for row in reopened.database.execute_sql("SELECT id FROM logs")
    }
    facts["missing_after_reopen"] = len(set(stored_ids) - present)
    facts["stored_total"] = len(stored_ids)
    facts["integrity_after"] = reopened.database.execute_sql("PRAGMA integrity_check").fetchone()[0]
    facts["backlog_kinds"] = {k: getattr(reopened.outbox.backlog(0), k) for k in KINDS}
    reopened.close()
    subprocess.run(["umount", str(mount_point)], check=False)
    return facts


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
