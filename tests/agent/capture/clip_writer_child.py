"""Child process for the kill -9 test: writes clips back to back until it is killed.

Usage: python -m tests.agent.capture.clip_writer_child VIDEO DIRECTORY
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.capture.clips.files import ClipFileWriter, ClipJob
from agent.capture.sources.demux import DemuxSource
from protocol import Trigger, TriggerSource, new_id, utc_now


def main() -> None:
    video, directory = Path(sys.argv[1]), Path(sys.argv[2])
    source = DemuxSource("cam", "file", video)
    source.open()
    packets = tuple(source.packets())
    source.close()
    writer = ClipFileWriter(directory, 160)
    trigger = Trigger(source=TriggerSource.MANUAL, at=utc_now())
    print("ready", flush=True)
    while True:
        clip = writer.write(
            ClipJob(new_id(), "cam", packets, (trigger,), None, packets[0].captured_at)
        )
        writer.handed_over(clip)
        print("wrote", clip.id, flush=True)


if __name__ == "__main__":
    main()
