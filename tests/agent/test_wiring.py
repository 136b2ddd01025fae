"""The daemon with its real parts: a test-pattern camera, detection, the button, its LED, the LAN
endpoint, desired state and commands over a real broker; clips checked by decoding them."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import av
import pytest
from gpiozero import Device as GpioDevice
from gpiozero.pins.mock import MockFactory

from agent.capture.config import TestPatternCameraConfig
from agent.config import AgentConfig
from agent.daemon import Daemon
from agent.detect.model import file_sha256
from agent.triggers.config import ButtonConfig, LongPressAction, PressAction, TagConfig
from agent.triggers.led import LedState
from agent.wiring.detection import DetectionPart
from agent.wiring.status import StatusBoard
from agent.wiring.triggers import ButtonPart
from protocol import (
    AckStatus,
    Channel,
    ClipDefaults,
    ClipRange,
    DesiredState,
    DetectionToggles,
    ModelRef,
    StartRecording,
    encode,
    utc_now,
)
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.process import free_port
from tests.agent.detect.conftest import running
from tests.agent.detect.scenes import BALL, BIB, PERSON
from tests.agent.detect.synthetic_models import build_colour_detector, manifest_for, write_model
from tests.agent.metrics_scrape import check_box_metrics
from tests.agent.sync.conftest import Device, agent_config
from tests.agent.sync.test_control import ack_for, command, topic
from tests.mqtt_helpers import TestClient
from tests.waiting import wait_until

TOKEN = "a-test-token-of-enough-length"
BUTTON_PIN, LED_PIN = 17, 27


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two detectors with the same classes and different weights (so different sha256)."""
    directory = tmp_path_factory.mktemp("wiring-models")
    classes = [BALL, PERSON, BIB]
    first = write_model(
        directory,
        "first",
        build_colour_detector("yolov8", classes),
        manifest_for("yolov8", classes),
    )
    second = write_model(
        directory,
        "second",
        build_colour_detector("yolov8", classes[::-1]),
        manifest_for("yolov8", classes[::-1]),
    )
    return first, second


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    factory = MockFactory()
    previous = GpioDevice.pin_factory
    GpioDevice.pin_factory = factory
    yield factory
    factory.reset()
    GpioDevice.pin_factory = previous


def box_config(
    tmp_path: Path, device: Device, broker: MosquittoBroker, model: Path | None, lan_port: int
) -> AgentConfig:
    config = agent_config(
        tmp_path,
        device,
        broker,
        clips={
            "pre_seconds": 1.0,
            "post_seconds": 2.0,
            "ring_seconds": 8.0,
            "max_pre_seconds": 5.0,
        },
        recording={"enabled": False, "segment_seconds": 2.0},
        detect={
            "enabled": model is not None,
            "model": str(model) if model else None,
            "fps": 5,
            "threads": 1,
            "warmup_runs": 0,
        },
        triggers={
            "button": {"pin": BUTTON_PIN, "led_pin": LED_PIN, "bounce_s": 0.01, "hold_s": 0.5},
            "lan": {"enabled": True, "host": "127.0.0.1", "port": lan_port, "token": TOKEN},
        },
    )
    camera = TestPatternCameraConfig(id="cam1", width=320, height=240, fps=15)
    return config.model_copy(update={"cameras": [camera]})


def lan(
    port: int, path: str, body: dict[str, Any] | None = None, token: str | None = TOKEN
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def stored(daemon: Daemon, table: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{daemon.store.path}?mode=ro", uri=True) as db:
        return [json.loads(body) for (body,) in db.execute(f"SELECT body FROM {table}")]


def clip_rows(daemon: Daemon) -> dict[str, tuple[str, dict[str, Any]]]:
    with sqlite3.connect(f"file:{daemon.store.path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT path, body FROM clips").fetchall()
    return {json.loads(body)["id"]: (path, json.loads(body)) for path, body in rows}


def decoded_seconds(path: str) -> float:
    with av.open(path) as container:
        stream = container.streams.video[0]
        times = [float(frame.time) for frame in container.decode(stream) if frame.time is not None]
    return max(times) - min(times)


def streaming(daemon: Daemon) -> bool:
    return any(
        h.state.value == "streaming" for provider in daemon.parts.camera_health for h in provider()
    )


def part(daemon: Daemon, kind: type[Any]) -> Any:
    return next(c for c in daemon.parts.components if isinstance(c, kind))


def test_the_box_makes_clips_from_every_trigger_and_follows_the_cloud(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    device: Device,
    admin: TestClient,
    models: tuple[Path, Path],
    mock_pins: MockFactory,
) -> None:
    admin.subscribe(topic(device, Channel.ACKS))
    port = free_port()
    config = box_config(tmp_path, device, mosquitto, models[0], port)
    daemon = Daemon(config)
    daemon.start()
    try:
        assert [c.name for c in daemon.parts.components] == [
            "capture",
            "detection",
            "status",
            "button",
            "lan",
        ]
        wait_until(lambda: streaming(daemon) and daemon.link.subscribed, what="camera and broker")
        wait_until(lambda: not daemon.watchdog.stuck(), what="every part alive")
        time.sleep(1.2)  # a second of pre-roll in memory

        # The phone on the LAN.
        assert lan(port, "/v1/health", token=None) == (200, {"status": "ok"})
        assert lan(port, "/v1/status", token="wrong-token-wrong-token")[0] == 401
        status, body = lan(port, "/v1/status")
        assert status == 200 and body["device"]["id"] == device.id
        assert [c["camera_id"] for c in body["cameras"]] == ["cam1"]
        status, body = lan(port, "/v1/clips", {"note": "great save", "by": "phone-1"})
        assert status == 202, body
        (lan_clip,) = body["clip_ids"]
        status, refused = lan(port, "/v1/clips", {"camera_id": "nope"})
        assert status == 422 and "nope" in refused["message"]

        # The button: a short press is a clip, and the LED lights while it is being made.
        button: ButtonPart = part(daemon, ButtonPart)
        pin = mock_pins.pin(BUTTON_PIN)
        pin.drive_low()  # pulled up: pressed is low
        time.sleep(0.1)
        pin.drive_high()
        wait_until(
            lambda: button.button is not None and button.button.clip_ids, what="the button's clip"
        )
        assert button.led is not None
        wait_until(lambda: button.led.led.state is LedState.RECORDING, what="the LED to light")  # type: ignore[union-attr]
        # A long press writes a marker instead.
        pin.drive_low()
        time.sleep(0.8)
        pin.drive_high()
        wait_until(
            lambda: any(r["type"] == "marker" for r in stored(daemon, "logs")), what="the marker"
        )

        ids = {lan_clip, str(button.button.clip_ids[0])}  # type: ignore[union-attr]
        wait_until(lambda: ids <= set(clip_rows(daemon)), what="both clips in the store")
        rows = clip_rows(daemon)
        assert rows[lan_clip][1]["triggers"][0]["source"] == "lan"
        assert rows[lan_clip][1]["triggers"][0]["note"] == "great save"
        for clip_id in ids:
            seconds = decoded_seconds(rows[clip_id][0])
            assert 2.0 <= seconds <= 4.5, (clip_id, seconds)  # 1 s pre + 2 s post, keyframe-aligned

        # Detection ran on the camera's frames.
        detection: DetectionPart = part(daemon, DetectionPart)
        wait_until(
            lambda: sum(h.inferences + h.skipped_still for h in detection.health()) > 0,
            what="detection to look at frames",
        )
        # Prometheus on the field's LAN sees all of it.
        scraped = check_box_metrics(port, TOKEN, camera="cam1", clips_at_least=len(ids))
        looked = {"camera": "cam1"}
        assert (
            scraped.get("sideline_agent_detection_inferences_total", looked)
            + scraped.get("sideline_agent_detection_skipped_total", {**looked, "reason": "still"})
            > 0
        )

        # The cloud: clip defaults, detection off, recording on, then a command on each.
        desired = DesiredState(
            org=device.org,
            device_id=device.id,
            revision=1,
            clip_defaults=ClipDefaults(pre_s=0.5, post_s=1.0),
            detection=DetectionToggles(enabled=False),
            recording=True,
        )
        admin.publish(topic(device, Channel.DESIRED), encode(desired), retain=True)
        capture = daemon.parts.targets.range_clipper
        writer = daemon.parts.targets.clip_trigger
        wait_until(lambda: writer.defaults == (0.5, 1.0), what="the clip defaults")  # type: ignore[union-attr]
        wait_until(
            lambda: not detection.worker.toggles.camera_enabled("cam1"), what="detection off"
        )
        assert capture.service.recorder.is_enabled("cam1")  # type: ignore[union-attr]
        time.sleep(3.0)  # some recorded segments
        start = utc_now()
        time.sleep(1.0)
        ranged = command(device, ClipRange(start=start, end=utc_now(), note="that run"))
        admin.publish(topic(device, Channel.COMMANDS), encode(ranged))
        ack = ack_for(admin, ranged.command_id)
        assert ack.status is AckStatus.DONE, ack.reason
        clip_ids = ack.result["clip_ids"]
        assert isinstance(clip_ids, list)
        (range_clip,) = clip_ids
        unknown = command(device, StartRecording(camera_id="cam9"))
        admin.publish(topic(device, Channel.COMMANDS), encode(unknown))
        refused_ack = ack_for(admin, unknown.command_id)
        assert refused_ack.status is AckStatus.REFUSED and "cam9" in (refused_ack.reason or "")
        wait_until(lambda: str(range_clip) in clip_rows(daemon), what="the range clip")
        assert clip_rows(daemon)[str(range_clip)][1]["triggers"][0]["source"] == "cloud"
        admin.publish(topic(device, Channel.DESIRED), b"", retain=True)
    finally:
        daemon.shutdown()
    assert not any(c.alive() for c in daemon.parts.components)


@pytest.fixture
def model_server(models: tuple[Path, Path]) -> Iterator[str]:
    """The models' folder over HTTP, where a desired state's model URL points."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(models[1].parent)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_model_named_by_the_cloud_replaces_the_running_one(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    device: Device,
    admin: TestClient,
    models: tuple[Path, Path],
    model_server: str,
    mock_pins: MockFactory,
) -> None:
    first, second = models
    config = box_config(tmp_path, device, mosquitto, first, free_port())
    daemon = Daemon(config)
    daemon.start()
    try:
        detection: DetectionPart = part(daemon, DetectionPart)
        assert running(detection.worker).model.sha256 == file_sha256(first)
        wait_until(lambda: streaming(daemon) and daemon.link.subscribed, what="camera and broker")
        sha = file_sha256(second)
        manifest = json.loads(second.with_suffix(".json").read_text())
        bad = DesiredState(
            org=device.org,
            device_id=device.id,
            revision=1,
            model=ModelRef(url=f"{model_server}/{first.name}", sha256=sha),
        )
        admin.publish(topic(device, Channel.DESIRED), encode(bad), retain=True)
        wait_until(lambda: detection.updater.failures >= 1, what="the wrong file to be refused")
        assert running(detection.worker).model.sha256 == file_sha256(first)  # still running
        good = bad.model_copy(
            update={
                "revision": 2,
                "model": ModelRef(
                    url=f"{model_server}/{second.name}",
                    sha256=sha,
                    manifest=manifest,
                ),
            }
        )
        admin.publish(topic(device, Channel.DESIRED), encode(good), retain=True)
        wait_until(lambda: running(detection.worker).model.sha256 == sha, what="the new model")
        assert not daemon.watchdog.stuck()
        wait_until(
            lambda: (
                {"model_update_failed", "model_updated"}
                <= {r["type"] for r in stored(daemon, "logs")}
            ),
            what="both outcomes in the log the cloud receives",
        )
        admin.publish(topic(device, Channel.DESIRED), b"", retain=True)
    finally:
        daemon.shutdown()


def test_a_box_whose_model_is_missing_detects_once_the_cloud_names_one(
    tmp_path: Path,
    mosquitto: MosquittoBroker,
    device: Device,
    admin: TestClient,
    models: tuple[Path, Path],
    model_server: str,
    mock_pins: MockFactory,
) -> None:
    _, second = models
    config = box_config(tmp_path, device, mosquitto, tmp_path / "no-such-model.onnx", free_port())
    daemon = Daemon(config)
    daemon.start()
    try:
        detection: DetectionPart = part(daemon, DetectionPart)
        board: StatusBoard = part(daemon, StatusBoard)
        assert detection.worker.detector is None
        wait_until(lambda: streaming(daemon) and daemon.link.subscribed, what="camera and broker")
        assert not detection.health()[0].enabled
        assert "detection waits for a model" in " ".join(board.sample().problems)
        sha = file_sha256(second)
        desired = DesiredState(
            org=device.org,
            device_id=device.id,
            revision=1,
            model=ModelRef(
                url=f"{model_server}/{second.name}",
                sha256=sha,
                manifest=json.loads(second.with_suffix(".json").read_text()),
            ),
        )
        admin.publish(topic(device, Channel.DESIRED), encode(desired), retain=True)
        wait_until(
            lambda: (
                detection.worker.detector is not None
                and running(detection.worker).model.sha256 == sha
            ),
            what="the model the cloud named",
        )
        wait_until(lambda: detection.health()[0].inferences > 0, what="detection running")
        assert detection.health()[0].enabled
        assert not any("detection" in problem for problem in board.sample().problems)
        assert not daemon.watchdog.stuck()
        updated = [r for r in stored(daemon, "logs") if r["type"] == "model_updated"]
        assert updated[0]["data"]["sha256"] == sha and "previous" not in updated[0]["data"]
        admin.publish(topic(device, Channel.DESIRED), b"", retain=True)
    finally:
        daemon.shutdown()


def test_a_missing_model_or_a_busy_port_leaves_the_rest_of_the_box_running(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, mock_pins: MockFactory
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = box_config(tmp_path, device, mosquitto, tmp_path / "no-such-model.onnx", port)
        daemon = Daemon(config)
        daemon.start()
        try:
            names = [c.name for c in daemon.parts.components]
            assert names == ["capture", "detection", "status", "button"]  # no LAN endpoint
            detection: DetectionPart = part(daemon, DetectionPart)
            assert detection.worker.detector is None  # waiting for a model
            wait_until(lambda: streaming(daemon), what="the camera")
            wait_until(lambda: not daemon.watchdog.stuck(), what="the watchdog fed")
            logs = stored(daemon, "logs")
            unavailable = [r for r in logs if r["type"] == "detection_unavailable"]
            assert "no-such-model" in unavailable[0]["data"]["reason"]
            failed = [r for r in logs if r["type"] == "component_failed"]
            assert failed[0]["data"]["component"] == "lan"
            reason = failed[0]["data"]["reason"]
            assert f"127.0.0.1:{port}" in reason and "triggers.lan.port" in reason
            # The status says so too: a problem line (and the LED's error blink), the
            # systemd status line.
            board: StatusBoard = part(daemon, StatusBoard)
            wait_until(
                lambda: any(p.startswith("lan is off") for p in board.snapshot.problems),
                what="the status board's line",
            )
            [line] = [p for p in board.snapshot.problems if p.startswith("lan is off")]
            assert f"port {port}" in line and "set triggers.lan.port" in line
            assert board.led_state() is LedState.ERROR
            assert "left out: lan" in daemon._status_line()
            # Clips still come from the button.
            pin = mock_pins.pin(BUTTON_PIN)
            time.sleep(1.2)
            pin.drive_low()
            time.sleep(0.1)
            pin.drive_high()
            button: ButtonPart = part(daemon, ButtonPart)
            wait_until(lambda: button.button and button.button.clip_ids, what="a clip")
            clip_id = str(button.button.clip_ids[0])  # type: ignore[union-attr]
            wait_until(lambda: clip_id in clip_rows(daemon), what="the clip in the store")
        finally:
            daemon.shutdown()
    assert isinstance(UUID(clip_id), UUID)


def test_a_tag_button_logs_the_moment_and_every_camera_clips_it_into_the_store(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, mock_pins: MockFactory
) -> None:
    """A second button tags: its log (with its window) and one clip per camera naming it
    go to the store, whence they flow to the cloud like every record."""
    config = box_config(tmp_path, device, mosquitto, None, free_port())
    tag_pin = 22
    triggers = config.triggers.model_copy(
        update={
            "lan": config.triggers.lan.model_copy(update={"enabled": False}),
            "buttons": [
                ButtonConfig(
                    pin=tag_pin,
                    bounce_s=0.01,
                    press=PressAction.TAG,
                    long_press=LongPressAction.NONE,
                    tag=TagConfig(type="goal", data={"action": "goal"}, lead_s=1.0, lag_s=0.5),
                )
            ],
        }
    )
    cameras = [
        TestPatternCameraConfig(id=camera, width=320, height=240, fps=15)
        for camera in ("left", "right")
    ]
    config = config.model_copy(update={"cameras": cameras, "triggers": triggers})
    daemon = Daemon(config)
    daemon.start()
    try:
        assert [c.name for c in daemon.parts.components][-2:] == ["button", "button-22"]
        wait_until(lambda: streaming(daemon), what="the cameras")
        time.sleep(1.5)  # the tag's lead in memory
        pin = mock_pins.pin(tag_pin)
        pin.drive_low()
        time.sleep(0.05)
        pin.drive_high()
        tagger: ButtonPart = next(c for c in daemon.parts.components if c.name == "button-22")  # type: ignore[assignment]
        wait_until(lambda: tagger.button and tagger.button.tag_log_ids, what="the tag")
        log_id = str(tagger.button.tag_log_ids[0])  # type: ignore[union-attr]
        clips = wait_until(
            lambda: (
                [body for _, body in clip_rows(daemon).values() if body.get("log_id") == log_id]
                if len(clip_rows(daemon)) >= 2
                else None
            ),
            what="a clip per camera",
        )
        [entry] = [record for record in stored(daemon, "logs") if record["id"] == log_id]
    finally:
        daemon.shutdown()
    assert entry["type"] == "goal" and entry["source"] == "marker"
    assert entry["data"] == {"action": "goal", "by": f"gpio{tag_pin}"}
    assert entry["clip"] == {"lead_s": 1.0, "lag_s": 0.5}
    assert sorted(clip["camera_id"] for clip in clips) == ["left", "right"]
    for clip in clips:
        assert clip["triggers"][0]["source"] == "button" and clip["triggers"][0]["note"] == "goal"
        assert clip["triggers"][0]["at"] == entry["occurred_at"]


def test_the_status_page_shows_the_detection_figures_the_heartbeat_sends(
    tmp_path: Path, models: tuple[Path, Path]
) -> None:
    """A file camera (encoded: frames are decoded for detection) with detection on: the
    status page's figures, frames_decoded included, are the heartbeat's."""
    from agent.clock import SystemClock
    from agent.wiring import PartsContext, build_parts
    from tests.agent.buffer.conftest import open_store
    from tests.media import write_test_video

    video = write_test_video(tmp_path / "field.mp4", width=320, height=180, seconds=2)
    config = AgentConfig(
        device={"org": "club", "id": "box1", "data_dir": tmp_path},
        cameras=[{"id": "cam1", "kind": "file", "path": video.path}],
        detect={"enabled": True, "model": str(models[0]), "fps": 5, "threads": 1, "warmup_runs": 0},
    )
    store = open_store(tmp_path / "buffer.db")
    parts = build_parts(PartsContext(config, store, SystemClock(), lambda: None))
    board: StatusBoard = next(c for c in parts.components if isinstance(c, StatusBoard))
    detection: DetectionPart = next(c for c in parts.components if isinstance(c, DetectionPart))
    for component in parts.components:
        component.start()
    try:
        wait_until(
            lambda: sum(h.inferences for h in detection.health()) >= 3, what="some inferences"
        )
        snapshot = board.sample()
        heartbeat = [h.model_dump(mode="json", exclude_none=True) for h in detection.health()]
    finally:
        for component in reversed(parts.components):
            component.stop(5)
        store.close()
    [shown] = snapshot.detection
    [sent] = heartbeat
    # Was 0 on the status page while the heartbeat counted them.
    assert shown["frames_decoded"] > 0 and shown["inferences"] >= 3
    assert shown["frames_decoded"] <= sent["frames_decoded"]  # sampled a moment earlier
