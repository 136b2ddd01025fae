"""`sideline demo`, the embedded default, as a newcomer runs it: a phone press on the box's LAN
(or through the cloud API, as a command to the real agent)
becomes a clip the cloud API lists with a link that plays."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import av
import pytest

from sideline.demo import Demo, DemoOptions
from sideline.services.process import ServiceError, free_port
from tests.procs import child_env, sideline_argv
from tests.waiting import wait_until


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _call(url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_a_press_on_the_lan_or_through_the_cloud_becomes_a_playable_clip(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    api_port, lan_port = free_port(), free_port()
    process = subprocess.Popen(
        sideline_argv(
            "demo",
            "--data-dir",
            str(data_dir),
            "--api-port",
            str(api_port),
            "--lan-port",
            str(lan_port),
            "--pre",
            "1",
            "--post",
            "1",
        ),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=_lines, args=(process.stdout, output), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not any("demo ready" in line for line in seen):
            assert process.poll() is None, "the demo exited:\n" + "".join(seen)
            assert time.monotonic() < deadline, "the demo did not start:\n" + "".join(seen)
            try:
                seen.append(output.get(timeout=1))
            except queue.Empty:
                continue
        state = json.loads((data_dir / "demo.json").read_text())
        assert (data_dir / "demo.json").stat().st_mode & 0o077 == 0  # secrets: owner only

        time.sleep(1.5)  # the camera just started: let a full second of pre-roll build up
        pressed = _call(
            f"http://127.0.0.1:{lan_port}/v1/clips", state["lan_token"], {"note": "what a goal"}
        )
        (clip_id,) = pressed["clip_ids"]
        session = f"http://127.0.0.1:{api_port}/api/v1/orgs/demo/sessions/{state['session_id']}"

        def ready_clip_with(wanted: str) -> dict[str, Any] | None:
            clips = _call(f"{session}/clips", state["api_token"])["data"]
            return next((c for c in clips if c["id"] == wanted and c["status"] == "ready"), None)

        def ready_clip() -> dict[str, Any] | None:
            return ready_clip_with(clip_id)

        clip = wait_until(ready_clip, timeout_s=90, what="the clip ready in the cloud")
        assert clip["trigger_source"] == "lan" and clip["triggers"][0]["note"] == "what a goal"
        assert clip["session_id"] == state["session_id"]  # the session the box records

        video = tmp_path / "clip.mp4"
        with urllib.request.urlopen(clip["playback_url"], timeout=30) as response:
            video.write_bytes(response.read())
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            times = [float(f.time) for f in container.decode(stream) if f.time is not None]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert 1.5 <= max(times) - min(times) <= 3.5  # 1 s before the press, 1 s after

        timeline = _call(f"{session}/timeline", state["api_token"])["data"]
        assert [item["type"] for item in timeline if item["id"] == clip_id] == ["clip"]

        # The same from a phone that is not on the field: through the cloud, as a command.
        accepted = _call(f"{session}/clips", state["api_token"], {"note": "from the stands"})
        (command_id,) = accepted["command_ids"]
        command_url = f"http://127.0.0.1:{api_port}/api/v1/orgs/demo/commands/{command_id}"

        def uploaded() -> dict[str, Any] | None:
            command = _call(command_url, state["api_token"])
            assert command["progress"] not in {"refused", "failed", "expired"}, command
            return command if command["progress"] == "clip_uploaded" else None

        command = wait_until(uploaded, timeout_s=90, what="the command's clip in the cloud")
        (commanded_clip,) = command["clip_ids"]
        assert commanded_clip != clip_id
        commanded = ready_clip_with(commanded_clip)
        assert commanded is not None and commanded["trigger_source"] == "cloud"
    finally:
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)  # a second one must not cut the stop short
        try:
            code = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            reader.join(timeout=10)
            process.stdout.close()
    assert code == 0, "".join(seen)
    assert _processes_using(data_dir) == []  # broker, S3, ingest, API and box all stopped


def _processes_using(data_dir: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended while we looked
        if str(data_dir) in args:
            found.append(args)
    return found


@pytest.mark.parametrize(
    ("option", "named"), [("api_port", "--api-port"), ("lan_port", "--lan-port")]
)
def test_a_taken_port_is_named_with_the_option_that_moves_it(
    tmp_path: Path, option: str, named: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        demo = Demo(DemoOptions(data_dir=tmp_path / "demo", **{option: busy}))
        with pytest.raises(ServiceError, match=rf"port {busy} .* taken .*{named}"):
            demo.start()
    assert demo.broker is None and demo.store is None and not demo.processes  # nothing started
