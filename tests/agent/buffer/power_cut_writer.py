"""A child for the power-cut test: writes to a store on the disk under test until killed.

Prints one line per write *after* the store's call returned (durable, by its contract):
``logs <id> <id> ...``, ``promise <id>``, ``clip <id> <sha256>``. Whatever the parent
read before the power went must be in the store after it.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

from agent.capture.clips.atomic import write_atomic
from agent.interfaces.sinks import ClipPromise, LocalClip
from protocol import Trigger, TriggerSource, new_id, utc_now
from tests.agent.buffer.conftest import open_store
from tests.agent.factories import make_log


def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random(int(sys.argv[2]))
    store = open_store(root / "buffer.db")
    clips = root / "clips"
    clips.mkdir(exist_ok=True)
    while True:
        batch = [make_log(payload_bytes=rng.randrange(0, 400)) for _ in range(rng.randrange(1, 60))]
        store.add_logs(batch)
        print("logs", *(record.id for record in batch), flush=True)
        if rng.random() < 0.2:
            at = utc_now()
            promise = ClipPromise(
                id=new_id(),
                camera_id="cam1",
                start=at - timedelta(seconds=10),
                end=at + timedelta(seconds=5),
                triggers=(Trigger(source=TriggerSource.LAN, at=at),),
                session_id=None,
                width=640,
                height=360,
            )
            store.promise_clip(promise)
            print("promise", promise.id, flush=True)
            if rng.random() < 0.5:
                data = os.urandom(rng.randrange(10_000, 400_000))
                path = clips / f"{promise.id}.mp4"
                write_atomic(path, data)  # fsynced and renamed, as a clip's commit does
                sha = hashlib.sha256(data).hexdigest()
                store.add_clip(
                    LocalClip(
                        id=promise.id,
                        camera_id="cam1",
                        path=path,
                        thumbnail_path=None,
                        started_at=promise.start,
                        ended_at=promise.end,
                        triggers=promise.triggers,
                        session_id=None,
                        size_bytes=len(data),
                        sha256=sha,
                        duration_ms=15_000,
                        frame_count=450,
                        width=640,
                        height=360,
                    )
                )
                print("clip", promise.id, sha, flush=True)


if __name__ == "__main__":
    main()
