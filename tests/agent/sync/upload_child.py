"""Child process for the kill -9 upload test: upload one store's clips and log every part.

Usage: python -m tests.agent.sync.upload_child CONFIG_JSON PART_LOG
Each ``upload_part`` call appends "start N" and "done N" to PART_LOG (flushed),
so the parent knows exactly what reached S3 before it killed us.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from agent.buffer.store import StoreIdentity
from agent.buffer.uploads import PartRecord
from agent.clock import SystemClock
from agent.config import AgentConfig
from agent.sync.objectstore import FilePart, S3ObjectStore
from agent.sync.throttle import TokenBucket
from agent.sync.uploader import ClipUploader
from tests.agent.buffer.conftest import open_store


class LoggingStore(S3ObjectStore):
    def __init__(self, *args: object, part_log: Path, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._part_log = part_log.open("a", buffering=1)

    def upload_part(
        self, key: str, upload_id: str, part_number: int, body: FilePart, sha256: str
    ) -> PartRecord:
        self._part_log.write(f"start {part_number}\n")
        part = super().upload_part(key, upload_id, part_number, body, sha256)
        self._part_log.write(f"done {part_number}\n")
        return part


def main() -> None:
    config = AgentConfig(**json.loads(sys.argv[1]))
    store = open_store(
        config.buffer.database or config.device.data_dir / "buffer.db",
        StoreIdentity(config.device.org, config.device.id),
    )
    objects = LoggingStore(config.s3, throttle=TokenBucket(8 * 1024**2), part_log=Path(sys.argv[2]))
    uploader = ClipUploader(store, objects, config.s3, config.sync, clock=SystemClock())
    threading.Thread(target=uploader.run, daemon=True).start()
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
