"""Fixtures for capture tests: generated videos (made once per session) and small helpers."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.capture.sources.demux import DemuxSource
from agent.interfaces.sinks import LocalClip
from protocol import Trigger, TriggerSource
from tests.agent.capture.rtsp import RtspServer
from tests.media import TestVideo, write_test_video


class ListSink:
    """A ClipSink that keeps what it is given (the store is another helper's part)."""

    def __init__(self) -> None:
        self.clips: list[LocalClip] = []
        self.event = threading.Event()

    def add_clip(self, clip: LocalClip) -> None:
        self.clips.append(clip)
        self.event.set()


def trigger_at(
    seconds: float, source: TriggerSource = TriggerSource.MANUAL, **fields: object
) -> Trigger:
    return Trigger(source=source, at=datetime.fromtimestamp(seconds, UTC), **fields)


def read_packets(video: TestVideo, camera_id: str = "cam") -> list[EncodedPacket]:
    source = DemuxSource(camera_id, "file", video.path)
    source.open()
    try:
        return list(source.packets())
    finally:
        source.close()


def feed(ring: PacketRing, packets: Sequence[EncodedPacket]) -> None:
    for packet in packets:
        ring.append(packet)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def video(media_dir: Path) -> TestVideo:
    """640x360, 30 fps, 8 s, a keyframe every 30 frames, no B-frames."""
    return write_test_video(media_dir / "pattern.mp4", seconds=8)


@pytest.fixture(scope="session")
def bframe_video(media_dir: Path) -> TestVideo:
    """Three B-frames per reference frame with x264's b-pyramid: frames come out of order."""
    return write_test_video(media_dir / "bframes.mp4", seconds=5, bframes=3)


@pytest.fixture(scope="session")
def mpeg4_video(media_dir: Path) -> TestVideo:
    return write_test_video(media_dir / "mpeg4.mp4", seconds=1, codec="mpeg4")


@pytest.fixture(scope="session")
def packets(video: TestVideo) -> list[EncodedPacket]:
    return read_packets(video)


@pytest.fixture
def sink() -> Iterator[ListSink]:
    yield ListSink()


@pytest.fixture
def rtsp_server(tmp_path: Path) -> Iterator[RtspServer]:
    """A real RTSP relay (rtsp-server-perl) on free ports, for this test."""
    server = RtspServer(tmp_path / "rtsp-server.log")
    server.start()
    yield server
    server.stop()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
