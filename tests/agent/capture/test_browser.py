"""A clip plays in a real browser (Debian's Chromium through Playwright)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.interfaces.triggers import ClipRequest
from tests.agent.capture.conftest import ListSink, feed, trigger_at

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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


@pytest.mark.browser
def test_clip_plays_in_chromium(
    tmp_path: Path, packets: list[EncodedPacket], served: tuple[Path, str]
) -> None:
    from playwright.sync_api import sync_playwright

    root, base = served
    ring = PacketRing("cam", 4)
    sink = ListSink()
    writer = ClipWriter(
        ClipConfig(
            pre_seconds=2, post_seconds=1, max_pre_seconds=3, max_post_seconds=3, ring_seconds=4
        ),
        {"cam": ring},
        ClipFileWriter(root, 160),
        sink,
    )
    feed(ring, packets[:151])
    writer.request_clip(ClipRequest(trigger=trigger_at(packets[150].captured_at)))
    feed(ring, packets[151:])
    writer.process_ready()
    [clip] = sink.clips
    url = f"{base}/cam/{clip.path.name}"
    (root / "index.html").write_text(
        f'<video id="v" src="{url}" muted playsinline preload="auto"></video>'
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(f"{base}/index.html")
            page.wait_for_function("document.getElementById('v').readyState >= 2", timeout=15_000)
            facts = page.evaluate(
                "(() => { const v = document.getElementById('v'); return [v.videoWidth, v.videoHeight, v.duration, v.error && v.error.code]; })()"
            )
            assert facts[:2] == [640, 360] and facts[3] is None
            assert abs(facts[2] - clip.duration_ms / 1000) < 0.1
            page.evaluate("document.getElementById('v').play()")
            page.wait_for_function("document.getElementById('v').currentTime > 0.5", timeout=15_000)
        finally:
            browser.close()
