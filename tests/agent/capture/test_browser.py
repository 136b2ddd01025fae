"""A clip plays in a real browser (Debian's Chromium through Playwright)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.interfaces.sinks import LocalClip
from agent.interfaces.triggers import ClipRequest
from tests.agent.capture.conftest import ListSink, feed, read_packets, trigger_at
from tests.media import TestVideo

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_plays(base: str, root: Path, paths: list[Path]) -> list[list[Any]]:
    """Load each video (under ``root``, served at ``base``) in one Chromium, play it past
    0.5 s; per video: width, height, duration, error code (None) and start time."""
    from playwright.sync_api import sync_playwright

    facts = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            for number, path in enumerate(paths):
                page_name = f"play-{number}.html"
                url = f"{base}/{path.relative_to(root)}"
                (root / page_name).write_text(
                    f'<video id="v" src="{url}" muted playsinline preload="auto"></video>'
                )
                page.goto(f"{base}/{page_name}")
                page.wait_for_function(
                    "document.getElementById('v').readyState >= 2", timeout=15_000
                )
                seen = page.evaluate(
                    "(() => { const v = document.getElementById('v'); return [v.videoWidth, "
                    "v.videoHeight, v.duration, v.error && v.error.code, v.currentTime]; })()"
                )
                page.evaluate("document.getElementById('v').play()")
                page.wait_for_function(
                    "document.getElementById('v').currentTime > 0.5", timeout=15_000
                )
                facts.append(seen)
        finally:
            browser.close()
    return facts


def write_clip(root: Path, packets: list[EncodedPacket], at: int) -> LocalClip:
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
    feed(ring, packets[: at + 1])
    writer.request_clip(ClipRequest(trigger=trigger_at(packets[at].captured_at)))
    feed(ring, packets[at + 1 :])
    writer.process_ready()
    [clip] = sink.clips
    return clip


@pytest.mark.browser
def test_clips_play_in_chromium(
    packets: list[EncodedPacket], bframe_video: TestVideo, served: tuple[Path, str]
) -> None:
    """A clip, and one of a B-frame source (negative decode times, an edit list)."""
    root, base = served
    clips = [write_clip(root, packets, 150), write_clip(root, read_packets(bframe_video), 90)]
    for clip, (width, height, duration, error, start) in zip(
        clips, chromium_plays(base, root, [c.path for c in clips]), strict=True
    ):
        assert (width, height, error, start) == (640, 360, None, 0)
        assert abs(duration - clip.duration_ms / 1000) < 0.1
