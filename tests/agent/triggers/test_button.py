"""The GPIO button through gpiozero's real code path, on its mock pin factory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from gpiozero.pins.mock import MockFactory

from agent.interfaces.triggers import ClipRequest, TriggerRejected
from agent.triggers.button import ButtonTrigger
from agent.triggers.config import ButtonConfig, LongPressAction
from agent.triggers.led import LedState, StatusLed, StatusLedController, led_state
from protocol import DetectionEvent, LogRecord, LogSource, TriggerSource, new_id
from tests.waiting import wait_until


class RecordingClips:
    def __init__(self, reject: str | None = None) -> None:
        self.requests: list[ClipRequest] = []
        self.reject = reject

    def request_clip(self, request: ClipRequest) -> list[UUID]:
        if self.reject:
            raise TriggerRejected(self.reject)
        self.requests.append(request)
        return [new_id()]


class Records:
    def __init__(self) -> None:
        self.logs: list[LogRecord] = []

    def add_log(self, record: LogRecord) -> None:
        self.logs.append(record)

    def add_event(self, record: DetectionEvent) -> None:
        raise AssertionError("the button writes no events")


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    pins = MockFactory()
    yield pins
    pins.reset()


def test_short_press_is_a_clip_timed_at_the_press(factory: MockFactory) -> None:
    clips, records = RecordingClips(), Records()
    session = new_id()
    button = ButtonTrigger(
        ButtonConfig(pin=17, hold_s=0.5, bounce_s=0),
        clips,
        records,
        camera_id="main",
        active_session=lambda: session,
        pin_factory=factory,
    )
    pin = factory.pin(17)
    before = datetime.now(UTC)
    pin.drive_low()  # pull-up: pressed is low
    time.sleep(0.1)
    released = datetime.now(UTC)
    pin.drive_high()
    wait_until(lambda: len(clips.requests) == 1)
    [request] = clips.requests
    assert request.trigger.source is TriggerSource.BUTTON and request.trigger.by == "gpio17"
    assert request.camera_id == "main"
    # T is the press, not the release that came 100 ms later.
    assert before - timedelta(milliseconds=5) <= request.trigger.at < released
    assert records.logs == [] and button.clip_ids
    button.close()


def test_long_press_writes_a_marker_and_no_clip(factory: MockFactory) -> None:
    clips, records = RecordingClips(), Records()
    button = ButtonTrigger(
        ButtonConfig(pin="GPIO27", hold_s=0.2, bounce_s=0, long_press=LongPressAction.MARKER),
        clips,
        records,
        pin_factory=factory,
    )
    pin = factory.pin(27)
    pin.drive_low()
    wait_until(lambda: len(records.logs) == 1)
    pin.drive_high()
    time.sleep(0.1)
    assert clips.requests == []
    [marker] = records.logs
    assert marker.source is LogSource.MARKER and marker.type == "marker"
    assert marker.data == {"by": "gpio27", "press": "long"} and marker.session_id is None
    button.close()


def test_bounce_is_one_press(factory: MockFactory) -> None:
    clips = RecordingClips()
    button = ButtonTrigger(
        ButtonConfig(pin=22, hold_s=1, bounce_s=0.1), clips, Records(), pin_factory=factory
    )
    pin = factory.pin(22)
    pin.drive_low()
    for _ in range(5):  # contacts chattering within the bounce time
        pin.drive_high()
        pin.drive_low()
    wait_until(lambda: button.presses == 1)  # settled low once
    pin.drive_high()
    wait_until(lambda: len(clips.requests) == 1)
    time.sleep(0.3)  # longer than the bounce time: nothing more may come of the chatter
    assert button.presses == 1 and len(clips.requests) == 1
    button.close()


def test_refused_clip_is_logged_and_the_button_keeps_working(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    clips = RecordingClips(reject="camera main: no video in memory yet")
    button = ButtonTrigger(
        ButtonConfig(pin=5, hold_s=1, bounce_s=0), clips, Records(), pin_factory=factory
    )
    pin = factory.pin(5)
    for _ in range(2):
        pin.drive_low()
        time.sleep(0.02)
        pin.drive_high()
        time.sleep(0.05)
    wait_until(lambda: len(button.rejections) == 2)
    assert button.rejections == ["camera main: no video in memory yet"] * 2
    assert "button gpio5: no clip: camera main: no video in memory yet" in caplog.text
    button.close()


def test_status_led_shows_state(factory: MockFactory) -> None:
    led = StatusLed(27, pin_factory=factory)
    state = {"value": LedState.RECORDING}
    controller = StatusLedController(led, lambda: state["value"], interval_s=0.01)
    import threading

    thread = threading.Thread(target=controller.run)
    thread.start()
    wait_until(lambda: led.state is LedState.RECORDING and factory.pin(27).state)
    state["value"] = LedState.ERROR
    wait_until(lambda: led.state is LedState.ERROR)
    seen: set[bool] = set()
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and len(seen) < 2:
        seen.add(bool(factory.pin(27).state))
        time.sleep(0.01)
    assert seen == {True, False}  # blinking
    controller.stop()
    thread.join(2)
    assert led.state is LedState.IDLE and not factory.pin(27).state
    led.close()


def test_led_state_priority() -> None:
    assert led_state(recording=True, uploading=True, error=True) is LedState.ERROR
    assert led_state(recording=True, uploading=True, error=False) is LedState.RECORDING
    assert led_state(recording=False, uploading=True, error=False) is LedState.UPLOADING
    assert led_state(recording=False, uploading=False, error=False) is LedState.IDLE
