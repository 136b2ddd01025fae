"""The GPIO button through gpiozero's real code path, on its mock pin factory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from gpiozero.pins.mock import MockFactory
from pydantic import ValidationError

from agent.interfaces.triggers import ClipRequest, RangeClipRequest, TriggerRejected
from agent.triggers.button import ButtonTrigger
from agent.triggers.config import (
    ButtonConfig,
    LongPressAction,
    PressAction,
    TagConfig,
    TriggersConfig,
)
from agent.triggers.led import (
    FAULT_PATTERN,
    FAULT_STEP_S,
    LedState,
    StatusLed,
    StatusLedController,
    led_state,
)
from agent.triggers.tags import Tagger
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


def test_a_refused_camera_has_a_pattern_of_its_own(factory: MockFactory) -> None:
    """Two flashes and a pause, over and over: unlike the error blink, it says that retrying
    will not help and a camera's settings need changing."""
    assert FAULT_PATTERN[:4] == (1, 0, 1, 0) and set(FAULT_PATTERN[4:]) == {0}
    assert FAULT_STEP_S * len(FAULT_PATTERN) == pytest.approx(1.0)
    led = StatusLed(22, pin_factory=factory)
    try:
        led.show(LedState.FAULT)
        seen: set[bool] = set()

        def both_seen() -> bool:
            seen.add(bool(factory.pin(22).state))
            return len(seen) == 2

        wait_until(both_seen)  # driven through the pattern
        led.show(LedState.RECORDING)  # the pattern stops; the LED is simply on
        time.sleep(2 * FAULT_STEP_S)
        assert led.lit and factory.pin(22).state
    finally:
        led.close()


def test_led_state_priority() -> None:
    assert led_state(recording=True, uploading=True, error=True, fault=True) is LedState.FAULT
    assert led_state(recording=True, uploading=True, error=True) is LedState.ERROR
    assert led_state(recording=True, uploading=True, error=False) is LedState.RECORDING
    assert led_state(recording=False, uploading=True, error=False) is LedState.UPLOADING
    assert led_state(recording=False, uploading=False, error=False) is LedState.IDLE


class RecordingClipper:
    """At the RangeClipper seam (capture's clip_range)."""

    def __init__(self, reject: str | None = None) -> None:
        self.requests: list[RangeClipRequest] = []
        self.reject = reject

    def clip_range(self, request: RangeClipRequest) -> list[UUID]:
        if self.reject:
            raise TriggerRejected(self.reject)
        self.requests.append(request)
        return [new_id(), new_id()]


def test_a_tag_button_logs_the_moment_and_clips_its_window_from_every_camera(
    factory: MockFactory,
) -> None:
    records, clipper = Records(), RecordingClipper()
    session = new_id()
    tag = TagConfig(type="goal", data={"action": "goal"}, lead_s=10, lag_s=5)
    button = ButtonTrigger(
        ButtonConfig(
            pin=5, bounce_s=0, press=PressAction.TAG, long_press=LongPressAction.NONE, tag=tag
        ),
        RecordingClips(),
        records,
        active_session=lambda: session,
        pin_factory=factory,
        tagger=Tagger(records, clipper, active_session=lambda: session),
    )
    pin = factory.pin(5)
    before = datetime.now(UTC)
    pin.drive_low()
    time.sleep(0.05)
    pin.drive_high()
    wait_until(lambda: len(clipper.requests) == 1)
    [entry] = records.logs
    assert entry.source is LogSource.MARKER and entry.type == "goal"
    assert entry.data == {"action": "goal", "by": "gpio5"} and entry.session_id == session
    assert entry.clip is not None and (entry.clip.lead_s, entry.clip.lag_s) == (10, 5)
    assert before - timedelta(milliseconds=5) <= entry.occurred_at <= datetime.now(UTC)
    [request] = clipper.requests
    assert request.log_id == entry.id and request.camera_id is None
    assert request.start == entry.occurred_at - timedelta(seconds=10)
    assert request.end == entry.occurred_at + timedelta(seconds=5)
    assert request.trigger.source is TriggerSource.BUTTON and request.trigger.note == "goal"
    assert button.tag_log_ids == [entry.id] and len(button.clip_ids) == 2
    button.close()


def test_a_long_press_tag_that_the_box_cannot_clip_still_logs_and_says_why(
    factory: MockFactory,
) -> None:
    records = Records()
    clipper = RecordingClipper(reject="camera main: range is no longer on this box")
    button = ButtonTrigger(
        ButtonConfig(
            pin=6,
            hold_s=0.2,
            bounce_s=0,
            long_press=LongPressAction.TAG,
            tag=TagConfig(type="shot"),
        ),
        RecordingClips(),
        records,
        pin_factory=factory,
        tagger=Tagger(records, clipper),
    )
    pin = factory.pin(6)
    pin.drive_low()
    wait_until(lambda: len(records.logs) == 2)
    pin.drive_high()
    tag, refusal = records.logs
    assert tag.type == "shot" and tag.clip is not None
    assert refusal.source is LogSource.SYSTEM and refusal.type == "tag_clip_refused"
    assert refusal.data == {"log_id": str(tag.id), "reason": clipper.reject}
    assert button.rejections == [clipper.reject] and button.clip_ids == []
    button.close()


def test_tag_buttons_need_a_tag_and_pins_of_their_own() -> None:
    with pytest.raises(ValidationError, match="no tag is configured"):
        ButtonConfig(pin=5, press=PressAction.TAG)
    with pytest.raises(ValidationError, match="buttons share a pin: 17"):
        TriggersConfig(
            button=ButtonConfig(pin=17),
            buttons=[ButtonConfig(pin="GPIO17", press=PressAction.TAG, tag=TagConfig())],
        )
