"""Atomic clip files: crash recovery, kill -9 in the middle of writes, a disk that fills up."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from agent.capture.clips.atomic import recover_directory
from agent.capture.clips.files import ClipFileWriter, ClipJob
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.interfaces.sinks import LocalClip
from agent.interfaces.triggers import ClipRequest
from protocol import new_id
from tests.agent.capture.conftest import ListSink, feed, trigger_at
from tests.media import TestVideo, decode_clip, write_test_video
from tests.procs import child_env


def job(packets: list[EncodedPacket], count: int) -> ClipJob:
    return ClipJob(
        new_id(),
        "cam",
        tuple(packets[:count]),
        (trigger_at(packets[0].captured_at),),
        None,
        packets[0].captured_at,
    )


def test_recovery_removes_interrupted_writes_and_hands_over_committed_ones(
    tmp_path: Path, packets: list[EncodedPacket]
) -> None:
    files = ClipFileWriter(tmp_path, 160)
    done = files.write(job(packets, 60))  # committed, but the store never heard of it
    interrupted = files.write(job(packets, 30))
    interrupted.path.unlink()  # as if the power went before the rename
    partial = tmp_path / "cam" / f".{new_id()}.mp4.partial"
    partial.write_bytes(b"half a clip")
    handed: list[LocalClip] = []
    report = recover_directory(tmp_path, handed.append)
    assert [c.id for c in handed] == [done.id] and handed[0] == done
    assert partial in report.partials_removed and interrupted.path in report.interrupted_removed
    names = sorted(p.name for p in (tmp_path / "cam").iterdir())
    assert names == sorted([done.path.name, f"{done.id}.jpg"])
    assert recover_directory(tmp_path, handed.append).clips_handed_over == []  # idempotent


def test_unreadable_manifest_is_removed(tmp_path: Path, packets: list[EncodedPacket]) -> None:
    folder = tmp_path / "cam"
    folder.mkdir()
    (folder / "x.json").write_text("{not json")
    recover_directory(tmp_path, lambda clip: None)
    assert not (folder / "x.json").exists()


@pytest.fixture(scope="module")
def heavy_video(tmp_path_factory: pytest.TempPathFactory) -> TestVideo:
    # Big enough that a write takes a while, so a kill lands inside one.
    return write_test_video(
        tmp_path_factory.mktemp("heavy") / "heavy.mp4",
        width=1280,
        height=720,
        seconds=3,
        bitrate_kbps=8000,
    )


def frame_count(path: Path) -> int:
    """Frames in an MP4 by its index (cheap); a truncated file fails to open or falls short."""
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)


@pytest.mark.parametrize(
    ("rounds", "max_rounds"),
    [
        # Bounded: go on until a kill has landed inside a write (the timing is random).
        pytest.param(1, 10, id="bounded"),
        pytest.param(12, 12, id="soak", marks=pytest.mark.slow),
    ],
)
def test_kill_9_during_clip_writes_leaves_no_half_file_visible(
    tmp_path: Path, heavy_video: TestVideo, rounds: int, max_rounds: int
) -> None:
    rng = random.Random(1234)
    evidence = 0
    for round_ in range(max_rounds):
        if round_ >= rounds and evidence > 0:
            break
        directory = tmp_path / f"round{round_}"
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.agent.capture.clip_writer_child",
                str(heavy_video.path),
                str(directory),
            ],
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.stdout.readline()  # at least one whole clip first
        time.sleep(rng.uniform(0.01, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        folder = directory / "cam"
        evidence += len(list(folder.glob(".*.partial"))) + len(list(folder.glob("*.json")))
        visible = sorted(folder.glob("*.mp4"))
        assert visible, "the child wrote at least one clip"
        for path in visible:
            assert frame_count(path) == heavy_video.frames  # whole, or not there
        assert decode_clip(visible[-1]).frames == heavy_video.frames
        handed: list[LocalClip] = []
        recover_directory(directory, handed.append)
        assert not list(folder.glob(".*")) and not list(folder.glob("*.json"))
        for clip in handed:
            assert hashlib.sha256(clip.path.read_bytes()).hexdigest() == clip.sha256
    assert evidence > 0, "no kill landed inside a write; the test proved nothing"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs, so that writes fail with a real ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI and the dev machine run as root)")
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_during_a_write_is_logged_and_retried_without_losing_anything(
    tiny_disk: Path, packets: list[EncodedPacket], caplog: pytest.LogCaptureFixture
) -> None:
    config = ClipConfig(
        pre_seconds=0,
        post_seconds=0,
        max_pre_seconds=4,
        max_post_seconds=4,
        ring_seconds=8,
        write_retry_s=60,
    )
    ring = PacketRing("cam", config.ring_seconds)
    sink = ListSink()
    writer = ClipWriter(config, {"cam": ring}, ClipFileWriter(tiny_disk, 160), sink)
    feed(ring, packets[:60])
    writer.request_clip(ClipRequest(trigger=trigger_at(packets[30].captured_at), pre_s=0, post_s=0))
    assert writer.process_ready() == 1
    [first] = sink.clips
    first_bytes = first.path.read_bytes()
    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * (free - 64 * 1024))  # leave 64 KiB: less than the next clip
    feed(ring, packets[60:])
    ring_before = ring.snapshot()
    with caplog.at_level(logging.ERROR):
        writer.request_clip(
            ClipRequest(trigger=trigger_at(packets[200].captured_at), pre_s=4, post_s=1)
        )
        assert writer.process_ready() == 0
    assert (
        "camera cam: clip" in caplog.text
        and "the disk is full" in caplog.text
        and "retrying in 60 s" in caplog.text
    )
    assert writer.stats.failed_writes == 1 and writer.pending_count == 1
    assert first.path.read_bytes() == first_bytes  # the earlier clip is intact
    assert ring.snapshot() == ring_before  # and so is the pre-roll
    assert sorted(p.name for p in (tiny_disk / "cam").iterdir()) == sorted(
        [first.path.name, f"{first.id}.jpg"]
    )
    filler.unlink()  # the store evicts something
    writer.retry_now()
    assert writer.process_ready() == 1
    second = sink.clips[1]
    assert decode_clip(second.path).indices[-1] >= 230
