"""Child process for the fault test: the real daemon plus a producer at the parts seam.

Usage: python -m tests.agent.sync.fault_agent CONFIG_JSON LEDGER CLIPS_JSON PRODUCE

The producer writes logs, detection events and clips (copies of real H.264 MP4s)
through the store's RecordSink/ClipSink, as capture and detection will. Every
record is written to LEDGER as "intent KIND ID" before ``add_*`` and
"done KIND ID [SHA256]" once it returned (the store said: committed), so after
a SIGKILL the test knows exactly what the agent had promised to keep.
"""

from __future__ import annotations

import json
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from agent.components import AgentParts
from agent.config import AgentConfig
from agent.daemon import Daemon
from agent.interfaces.sinks import LocalClip, StoreUnavailable
from agent.wiring import PartsContext
from sideline.logs import configure_logging
from tests.agent.factories import make_clip, make_event, make_log


class Producer:
    """A Component that produces until stopped (or is killed with the process)."""

    name = "producer"

    def __init__(
        self, context: PartsContext, ledger: TextIO, clips: list[Path], clip_dir: Path
    ) -> None:
        self._store = context.store
        self._ledger = ledger
        self._clips = clips
        self._clip_dir = clip_dir
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)
        self._tick = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def alive(self) -> bool:
        return time.monotonic() - self._tick < 30

    def _note(self, what: str, kind: str, ids: list[Any], extra: str = "") -> None:
        self._ledger.write("".join(f"{what} {kind} {i}{extra}\n" for i in ids))
        self._ledger.flush()

    def _run(self) -> None:
        rng = random.Random()
        next_clip = time.monotonic()
        while not self._stop.wait(0.05):
            self._tick = time.monotonic()
            logs = [make_log(payload_bytes=rng.randrange(50, 400)) for _ in range(5)]
            events = [make_event() for _ in range(2)]
            try:
                self._note("intent", "logs", [r.id for r in logs])
                self._store.add_logs(logs)
                self._note("done", "logs", [r.id for r in logs])
                self._note("intent", "events", [r.id for r in events])
                self._store.add_events(events)
                self._note("done", "events", [r.id for r in events])
                if time.monotonic() >= next_clip:
                    next_clip = time.monotonic() + 0.7
                    self._add_clip(rng)
            except StoreUnavailable as exc:
                print(f"producer: {exc}", file=sys.stderr, flush=True)

    def _add_clip(self, rng: random.Random) -> None:
        source = rng.choice(self._clips)
        clip: LocalClip = make_clip(self._clip_dir, content=source, thumbnail=rng.random() < 0.5)
        self._note("intent", "clips", [clip.id], f" {clip.sha256}")
        self._store.add_clip(clip)
        self._note("done", "clips", [clip.id], f" {clip.sha256}")


def main() -> None:
    config = AgentConfig(**json.loads(sys.argv[1]))
    ledger = Path(sys.argv[2]).open("a", buffering=1)
    clips = [Path(p) for p in json.loads(sys.argv[3])]
    produce = sys.argv[4] == "1"
    configure_logging("INFO", journald=False)

    def parts(context: PartsContext) -> AgentParts:
        if not produce:
            return AgentParts()
        return AgentParts(
            components=[Producer(context, ledger, clips, config.device.data_dir / "clips")]
        )

    daemon = Daemon(config, parts_factory=parts)
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop())
    daemon.run()
    ledger.close()


if __name__ == "__main__":
    main()
