"""The LAN endpoint over real HTTP, with the real clip writer behind it."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from agent.capture.clips.files import ClipFileWriter
from agent.capture.clips.writer import ClipWriter
from agent.capture.config import ClipConfig
from agent.capture.packets import EncodedPacket
from agent.capture.ring import PacketRing
from agent.triggers.config import LanTriggerConfig
from agent.triggers.lan import LanTriggerServer
from protocol import TriggerSource
from sideline.services.process import free_port
from tests.agent.capture.conftest import ListSink, feed

TOKEN = "field-north-0123456789abcdef"


@dataclass
class Box:
    url: str
    server: LanTriggerServer
    writer: ClipWriter
    ring: PacketRing
    sink: ListSink


@pytest.fixture
def box(tmp_path: Path, packets: list[EncodedPacket]) -> Iterator[Box]:
    ring = PacketRing("cam", 4)
    feed(ring, packets[:120])
    sink = ListSink()
    writer = ClipWriter(
        ClipConfig(
            pre_seconds=1, post_seconds=1, max_pre_seconds=2, max_post_seconds=2, ring_seconds=4
        ),
        {"cam": ring},
        ClipFileWriter(tmp_path, 160),
        sink,
    )
    config = LanTriggerConfig(
        enabled=True, host="127.0.0.1", port=free_port(), token=SecretStr(TOKEN)
    )
    server = LanTriggerServer(
        config, writer, status=lambda: {"cameras": ["cam"], "pending_clips": writer.pending_count}
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield Box(f"http://127.0.0.1:{server.port}", server, writer, ring, sink)
    server.stop()
    thread.join(5)


def call(
    method: str,
    url: str,
    body: bytes | None = None,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            kind = response.headers["Content-Type"]
            return response.status, json.loads(raw) if "json" in kind else raw.decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_phone_triggers_a_clip(box: Box, packets: list[EncodedPacket]) -> None:
    status, body = call(
        "POST",
        f"{box.url}/v1/clips",
        json.dumps({"note": "corner kick", "by": "coach-ana"}).encode(),
    )
    assert status == 202 and len(body["clip_ids"]) == 1 and body["at"].endswith("Z")
    assert box.writer.pending_count == 1
    feed(box.ring, packets[120:])
    # The box's clock is "now" while the replayed packets are from the past, so the clip
    # is finished by its deadline path when flushed.
    box.writer.process_ready(flush=True)
    [clip] = box.sink.clips
    assert str(clip.id) == body["clip_ids"][0]
    [trigger] = clip.triggers
    assert (trigger.source, trigger.by, trigger.note) == (
        TriggerSource.LAN,
        "coach-ana",
        "corner kick",
    )


def test_clip_without_by_names_the_phone(box: Box) -> None:
    status, _ = call("POST", f"{box.url}/v1/clips", b"{}")
    assert status == 202
    box.writer.process_ready(flush=True)
    assert box.sink.clips[0].triggers[0].by == "lan:127.0.0.1"


@pytest.mark.parametrize(
    ("token", "expected"),
    [(None, 401), ("wrong-token-0123456789", 401), (TOKEN[:-1], 401), (TOKEN + "x", 401)],
)
def test_token_is_required(box: Box, token: str | None, expected: int) -> None:
    status, body = call("POST", f"{box.url}/v1/clips", b"{}", token=token)
    assert status == expected and body["error"] == "unauthorized"
    # A wrong token is told apart from a missing one.
    assert body["message"].startswith("wrong token" if token else "send the box's token")
    status, _ = call("GET", f"{box.url}/v1/status", token=token)
    assert status == 401
    assert box.writer.pending_count == 0 and box.server.unauthorized == 2


def test_health_needs_no_token_and_status_comes_from_the_daemon(box: Box) -> None:
    assert call("GET", f"{box.url}/v1/health", token=None) == (200, {"status": "ok"})
    assert call("GET", f"{box.url}/v1/status") == (200, {"cameras": ["cam"], "pending_clips": 0})


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"{not json", 400, "bad_json", "body is not JSON"),
        (b'{"pre_s": -3}', 422, "rejected", "camera cam: pre-roll -3 s is outside 0..2 s"),
        (b'{"post_s": 500}', 422, "rejected", "camera cam: post-roll 500 s is outside 0..2 s"),
        (b'{"camera_id": "roof"}', 422, "rejected", "camera roof: no such camera on this box"),
        (b'{"pre_s": "soon"}', 422, "validation_error", "pre_s: Input should be a valid number"),
        (b'{"colour": "red"}', 422, "validation_error", "colour: Extra inputs are not permitted"),
        (
            b'{"note": "' + b"x" * 600 + b'"}',
            422,
            "validation_error",
            "note: String should have at most 500 characters",
        ),
    ],
)
def test_bad_requests_get_clear_json_errors(
    box: Box, body: bytes, status: int, code: str, message: str
) -> None:
    got_status, got = call("POST", f"{box.url}/v1/clips", body)
    assert (got_status, got["error"]) == (status, code)
    assert message in got["message"]
    assert box.writer.pending_count == 0


def test_routes_methods_and_sizes(box: Box) -> None:
    assert call("GET", f"{box.url}/v1/nothing")[0] == 404
    assert call("GET", f"{box.url}/v1/clips")[0] == 405
    assert call("POST", f"{box.url}/v1/status", b"{}")[0] == 405
    status, body = call("POST", f"{box.url}/v1/clips", b"{}", headers={"Content-Length": "999999"})
    assert status == 413 and body["error"] == "too_large"
    status, page = call("GET", f"{box.url}/", token=None)
    assert status == 200 and "/v1/clips" in page


def test_endpoint_refuses_to_start_without_a_real_token() -> None:
    with pytest.raises(ValidationError, match="the LAN endpoint is enabled but has no token"):
        LanTriggerConfig(enabled=True, token=SecretStr("short"))
    with pytest.raises(ValueError, match="at least 16 characters"):
        LanTriggerServer(LanTriggerConfig(enabled=False), writer_stub(), status=dict)


def writer_stub() -> ClipWriter:
    return ClipWriter(ClipConfig(), {}, ClipFileWriter(Path("/nonexistent"), 160), ListSink())
