"""Logging is tagging, end to end: the real agent (two test-pattern cameras), Mosquitto,
SeaweedFS, the ingest and the API as processes, PostgreSQL, and Chromium for the share page.

A coach logs a moment (with its press time): the box cuts [moment - lead, moment + lag]
from every camera, and each clip is checked frame by frame against the test pattern's
burned-in clock. A range the box no longer holds is refused with the reason; a re-trim
replaces its clip; a share link plays without signing in and shows nothing else; a
playlist plays through.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol import format_utc, utc_now
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.postgres import TemporaryDatabase
from sideline.services.seaweed import SeaweedS3
from tests.agent.capture.test_browser import CHROMIUM_ARGS
from tests.media import decode_clip
from tests.stack import Stack
from tests.waiting import wait_until

FPS = 15.0
LEAD_S, LAG_S = 2.0, 1.0


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    mosquitto: MosquittoBroker,
    seaweed: SeaweedS3,
    postgres_admin_url: str,
) -> Iterator[Stack]:
    database = TemporaryDatabase(postgres_admin_url, prefix="sideline_tagging")
    url = database.create()
    try:
        with Stack(
            tmp_path_factory.mktemp("tagging"), mosquitto, seaweed, url, cameras=2, fps=FPS
        ) as running:
            yield running
    finally:
        database.drop()


@pytest.fixture(scope="module")
def session(stack: Stack) -> dict[str, Any]:
    session = stack.tagging_session({"lead_s": LEAD_S, "lag_s": LAG_S})
    # A tagging session turns the box's recording on through its desired state.
    wait_until(stack.recording_everywhere, timeout_s=30, what="the box recording")
    return session


def _tag(
    stack: Stack, session: dict[str, Any], action: str = "goal"
) -> tuple[dict[str, Any], datetime]:
    """Log a moment half a second ago (the press), and wait for one clip per camera."""
    wait_until(
        lambda: all(
            (camera.get("recorded_from") or "9")
            < format_utc(utc_now() - timedelta(seconds=LEAD_S + 1))
            for camera in (stack.box_status() or {}).get("cameras", [])
        ),
        timeout_s=30,
        what="enough video on the box",
    )
    pressed = utc_now() - timedelta(seconds=0.5)
    logs = f"/sessions/{session['id']}/logs"
    log = stack.api(
        "POST", logs, {"data": {"action": action}, "occurred_at": format_utc(pressed)}, expect=201
    )
    assert len(log["clip_requests"]) == 1  # the session's one box, for every camera
    assert log["clip_requests"][0]["progress"] in ("sent", "acknowledged", "done")

    def clipped() -> dict[str, Any] | None:
        current = stack.api("GET", f"{logs}/{log['id']}")
        refused = [r for r in current["clip_requests"] if r["progress"] in ("refused", "failed")]
        assert not refused, refused
        return current if len(current["clips"]) == len(stack.camera_ids) else None

    return wait_until(clipped, timeout_s=45, what="a clip per camera", interval_s=0.25), pressed


def _frames(clip: dict[str, Any], into: Path) -> list[float]:
    """The burned-in capture clock of every frame a player shows, in seconds."""
    video = into / f"{clip['id']}.mp4"
    video.write_bytes(httpx.get(clip["playback_url"], timeout=30).content)
    decoded = decode_clip(video)
    clocks = [stamp.clock_ms / 1000 for stamp in decoded.stamps if stamp is not None]
    assert len(clocks) == decoded.frames, "every frame carries the pattern's clock"
    indices = decoded.indices
    assert indices == list(range(indices[0], indices[0] + len(indices))), "no frame missing"
    return clocks


def _check_covers(clocks: list[float], start: datetime, end: datetime) -> None:
    frame = 1 / FPS
    assert start.timestamp() - 0.002 <= clocks[0] < start.timestamp() + frame + 0.002
    assert end.timestamp() - 0.002 <= clocks[-1] < end.timestamp() + frame + 0.002


def test_a_log_becomes_one_clip_per_camera_covering_its_range_aligned_on_the_wall_clock(
    stack: Stack, session: dict[str, Any], tmp_path: Path
) -> None:
    log, pressed = _tag(stack, session)
    start, end = pressed - timedelta(seconds=LEAD_S), pressed + timedelta(seconds=LAG_S)
    assert {clip["camera_id"] for clip in log["clips"]} == set(stack.camera_ids)
    firsts = []
    for clip in log["clips"]:
        assert clip["log_id"] == log["id"] and clip["session_id"] == session["id"]
        clocks = _frames(clip, tmp_path)
        _check_covers(clocks, start, end)
        firsts.append(clocks[0])
        assert clip["clock_skew_ms"] is not None  # the box's clock, as its heartbeats show it
    assert max(firsts) - min(firsts) <= 1 / FPS + 0.002  # one frame interval at most
    assert {r["progress"] for r in log["clip_requests"]} == {"clip_uploaded"}

    # The timeline shows the log with its clips as one item.
    items = stack.api("GET", f"/sessions/{session['id']}/timeline")["data"]
    [item] = [i for i in items if i["id"] == log["id"]]
    assert sorted(c["id"] for c in item["data"]["clips"]) == sorted(c["id"] for c in log["clips"])
    assert not {c["id"] for c in log["clips"]} & {i["id"] for i in items}


def test_a_range_older_than_the_box_holds_is_refused_with_the_reason(
    stack: Stack, session: dict[str, Any]
) -> None:
    an_hour_ago = utc_now() - timedelta(hours=1)
    accepted = stack.api(
        "POST",
        f"/sessions/{session['id']}/clips/range",
        {"start": format_utc(an_hour_ago), "end": format_utc(an_hour_ago + timedelta(seconds=20))},
        expect=202,
    )
    [command_id] = accepted["command_ids"]

    def answered() -> dict[str, Any] | None:
        command = stack.api("GET", f"/commands/{command_id}")
        return command if command["progress"] not in ("pending", "sent") else None

    command = wait_until(answered, timeout_s=30, what="the box's answer")
    assert command["progress"] == "refused", command
    assert "no longer on this box" in command["reason"] and "cover from" in command["reason"]
    # And what the API itself refuses, naming the field.
    stack.api("POST", f"/sessions/{session['id']}/logs", {"data": {"action": "goal"}}, expect=422)


def test_a_retrim_replaces_the_clip_once_the_new_one_is_ready(
    stack: Stack, session: dict[str, Any], tmp_path: Path
) -> None:
    log, pressed = _tag(stack, session, action="turnover")
    [old] = [clip for clip in log["clips"] if clip["camera_id"] == "main"]
    base = f"/sessions/{session['id']}"
    stack.api("POST", f"{base}/clips/{old['id']}/retrim", {"lead_s": 1.0, "lag_s": 0.5}, expect=202)

    def replaced() -> dict[str, Any] | None:
        clips = stack.api("GET", f"{base}/logs/{log['id']}")["clips"]
        return next((c for c in clips if c["replaces_id"] == old["id"]), None)

    new = wait_until(replaced, timeout_s=45, what="the re-trimmed clip", interval_s=0.25)
    assert new["camera_id"] == "main" and new["log_id"] == log["id"]
    _check_covers(
        _frames(new, tmp_path), pressed - timedelta(seconds=1.0), pressed + timedelta(seconds=0.5)
    )
    history = stack.api("GET", f"{base}/clips/{old['id']}")
    assert history["replaced_by_id"] == new["id"]  # both ids kept
    listed = [c["id"] for c in stack.api("GET", f"{base}/clips")["data"]]
    assert new["id"] in listed and old["id"] not in listed


def _played_through(page: Any, *, timeout_s: float) -> None:
    """Poll the page's state from outside (the page's CSP forbids eval, which
    Playwright's wait_for_function would need)."""
    wait_until(
        lambda: page.evaluate("() => Boolean(window.sharePlayer && window.sharePlayer.finished)"),
        timeout_s=timeout_s,
        what="the page to play to the end",
        interval_s=0.25,
    )
    assert page.evaluate("() => window.sharePlayer.error") is None


def test_a_share_link_plays_without_signing_in_and_a_playlist_plays_through(
    stack: Stack, session: dict[str, Any]
) -> None:
    from playwright.sync_api import sync_playwright

    log, _ = _tag(stack, session, action="shot")
    first, second = sorted(log["clips"], key=lambda c: c["camera_id"])
    clip_link = stack.api("POST", "/share-links", {"clip_id": first["id"]}, expect=201)
    token = clip_link["url"].rsplit("/", 1)[1]
    # Another clip's id through this link: not found.
    other = httpx.get(f"{stack.api_url}/api/v1/share/{token}/clips/{second['id']}", timeout=10)
    assert other.status_code == 404
    playlist = stack.api(
        "POST",
        "/playlists",
        {"title": "Shots", "clip_ids": [second["id"], first["id"]]},
        expect=201,
    )
    playlist_link = stack.api(
        "POST", "/share-links", {"playlist_id": playlist["id"], "title": "For Alex"}, expect=201
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            # A phone: no account, no cookies, no token.
            page = browser.new_page(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page.goto(clip_link["url"])
            _played_through(page, timeout_s=30)
            facts = page.evaluate(
                "(() => { const v = document.getElementById('player');"
                " return [v.videoWidth, v.duration, v.error && v.error.code,"
                " window.sharePlayer.played, document.body.innerText]; })()"
            )
            assert facts[0] == 640 and facts[1] > LEAD_S and facts[2] is None
            width = page.evaluate(
                "() => document.getElementById('player').getBoundingClientRect().width"
            )
            assert 300 < width <= 390  # the video fills the phone's width, no sideways scroll
            assert facts[3] == [first["id"]]
            text = facts[4]
            for secret in (session["title"], "Club", stack.device_id, session["id"]):
                assert secret not in text  # nothing else of the organisation

            page.goto(playlist_link["url"])
            _played_through(page, timeout_s=40)
            played = page.evaluate("window.sharePlayer.played")
            assert played == [second["id"], first["id"]]  # back to back, in the playlist's order
            assert "For Alex" in page.inner_text("h1")
        finally:
            browser.close()
