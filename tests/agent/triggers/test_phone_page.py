"""The coach's phone page in a real Chromium: the box's state in one line, and the button."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.triggers.config import LanTriggerConfig
from agent.triggers.lan import LanTriggerServer
from sideline.services.process import free_port
from tests.agent.capture.conftest import ListSink, feed
from tests.agent.capture.test_browser import CHROMIUM_ARGS

TOKEN = "field-north-0123456789abcdef"


@pytest.fixture
def phone_box(
    tmp_path: Path, packets: list[EncodedPacket]
) -> Iterator[tuple[str, ClipWriter, dict[str, Any]]]:
    """A LAN endpoint with the real clip writer; the status it reports is the test's to set."""
    ring = PacketRing("cam", 4)
    feed(ring, packets[:120])
    writer = ClipWriter(
        ClipConfig(
            pre_seconds=1, post_seconds=1, max_pre_seconds=2, max_post_seconds=2, ring_seconds=4
        ),
        {"cam": ring},
        ClipFileWriter(tmp_path, 160),
        ListSink(),
    )
    state: dict[str, Any] = {"ok": True, "problems": [], "backlog": {"clips": 0}}
    config = LanTriggerConfig(
        enabled=True, host="127.0.0.1", port=free_port(), token=SecretStr(TOKEN)
    )
    server = LanTriggerServer(
        config, writer, status=lambda: {**state, "clips_in_progress": writer.pending_count}
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", writer, state
    server.stop()
    thread.join(5)


@pytest.mark.browser
def test_the_phone_page_shows_the_box_and_makes_a_clip(
    phone_box: tuple[str, ClipWriter, dict[str, Any]],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, writer, state = phone_box
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            page.goto(url)
            box = page.locator("#box")
            expect(box).to_have_text("enter the box token below")

            page.fill("#token", "not-the-token")
            page.dispatch_event("#token", "change")
            expect(box).to_have_text("wrong box token")
            expect(box).to_have_class("down")

            page.fill("#token", TOKEN)
            page.dispatch_event("#token", "change")
            expect(box).to_have_text("Box ready")
            expect(box).to_have_class("ok")

            page.fill("#note", "great save")
            page.click("#clip")
            expect(page.locator("#msg")).to_have_text("Clip coming: 1 camera(s)")
            expect(page.locator("#note")).to_have_value("")
            # The post-roll has not been captured yet, so the clip is still being made.
            expect(box).to_have_text("Box ready \u00b7 1 clip(s) being made")
            assert writer.pending_count == 1

            state["problems"] = ["camera cam is reconnecting", "disk nearly full: 180 MiB free"]
            state["backlog"] = {"clips": 3}
            page.evaluate("refresh()")
            expect(box).to_have_class("warn")
            expect(box).to_contain_text(
                "Box needs attention \u00b7 1 clip(s) being made \u00b7 3 clip(s) waiting to upload"
            )
            expect(box.locator("li")).to_have_text(
                ["camera cam is reconnecting", "disk nearly full: 180 MiB free"]
            )
            # The token is remembered for the next visit.
            page.reload()
            expect(box).to_contain_text("Box needs attention")
        finally:
            browser.close()


@pytest.mark.browser
def test_a_press_on_a_box_whose_camera_is_refused_answers_why(tmp_path: Path) -> None:
    """The answer to the press is the camera's refusal, not "no video yet"; the status line
    lists it with what to change, and the notes beside it."""
    from playwright.sync_api import expect, sync_playwright

    reason = (
        "rtsp://cam.local/main sends hevc, not H.264, and transcoding is off for this camera: "
        "set this stream's video codec to H.264 in the camera's settings page (Video / "
        "Encoding), or set transcode = true to let the box transcode it"
    )
    writer = ClipWriter(
        ClipConfig(pre_seconds=1, post_seconds=1, max_pre_seconds=2, ring_seconds=4),
        {"main": PacketRing("main", 4)},  # never any video
        ClipFileWriter(tmp_path, 160),
        ListSink(),
        camera_problem=lambda camera_id: reason,
    )
    status = {
        "ok": False,
        "problems": [f"camera main: {reason}"],
        "notes": ["camera replay: the file has been played to its end (loop = false)"],
        "backlog": {"clips": 0},
    }
    config = LanTriggerConfig(
        enabled=True, host="127.0.0.1", port=free_port(), token=SecretStr(TOKEN)
    )
    server = LanTriggerServer(config, writer, status=lambda: status)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport={"width": 390, "height": 844})
                page.goto(f"http://127.0.0.1:{server.port}/")
                page.fill("#token", TOKEN)
                page.dispatch_event("#token", "change")
                box = page.locator("#box")
                expect(box).to_have_class("warn")
                expect(box.locator("ul.problems li")).to_have_text([f"camera main: {reason}"])
                expect(box.locator("ul.notes li")).to_have_text(status["notes"])  # type: ignore[arg-type]
                page.click("#clip")
                expect(page.locator("#msg")).to_have_text(f"camera main: {reason}")
            finally:
                browser.close()
    finally:
        server.stop()
        thread.join(5)
