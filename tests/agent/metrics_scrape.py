"""Scraping the box's /metrics on its LAN port, as a Prometheus on the field's network would."""

from __future__ import annotations

import urllib.error
import urllib.request

from tests.metrics_helpers import Samples, scrape
from tests.waiting import wait_until


def check_box_metrics(port: int, token: str, *, camera: str, clips_at_least: int) -> Samples:
    """The box's figures move with what it does: frames keep coming, clips are counted."""
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        urllib.request.urlopen(url, timeout=10)
        raise AssertionError("/metrics answered without the box's token")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    auth = {"Authorization": f"Bearer {token}"}
    first = scrape(url, auth)
    frames = {"camera": camera}
    assert first.get("sideline_agent_camera_frames_total", frames) > 0
    assert first.get("sideline_agent_camera_streaming", frames) == 1
    assert first.get("sideline_agent_ring_bytes", frames) > 0
    assert first.get("sideline_agent_ring_seconds", frames) > 0
    # The writer counts a clip just after the store has it.
    wait_until(
        lambda: scrape(url, auth).get("sideline_agent_clips_written_total") >= clips_at_least,
        what=f"{clips_at_least} clips counted",
    )
    assert first.get("sideline_agent_mqtt_connected") == 1
    assert first.get("sideline_agent_disk_free_bytes") > 0
    assert "sideline_agent_backlog_records" in first.names()
    assert first.get("process_resident_memory_bytes") > 0
    wait_until(
        lambda: (
            scrape(url, auth).get("sideline_agent_camera_frames_total", frames)
            > first.get("sideline_agent_camera_frames_total", frames)
        ),
        what="the frame counter to move",
    )
    return first
