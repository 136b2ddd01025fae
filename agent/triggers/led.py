"""The optional status LED on the box: what a coach can see from the bench.

* off — idle, all clips uploaded;
* on — a clip is recording its post-roll (the press was taken);
* slow blink — clips are waiting to upload;
* fast blink — something needs attention (a camera reconnecting, disk full);
* double flash, over and over — a camera is refused and will not work until its
  settings are changed (a codec that may not be transcoded, a missing file, a
  wrong password): retrying does not help, so it looks different from the above.

:class:`StatusLedController` polls a status callable the daemon supplies and
drives a gpiozero ``LED``; its ``run()`` loop stops on its stop event.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any

__all__ = [
    "FAULT_PATTERN",
    "FAULT_STEP_S",
    "LedState",
    "StatusLed",
    "StatusLedController",
    "led_state",
]

#: The refused-camera pattern, one value per FAULT_STEP_S: two short flashes, then dark.
FAULT_PATTERN = (1, 0, 1, 0, 0, 0, 0, 0, 0, 0)
FAULT_STEP_S = 0.1


class LedState(StrEnum):
    IDLE = "idle"
    RECORDING = "recording"
    UPLOADING = "uploading"
    ERROR = "error"
    FAULT = "fault"  # a camera refused: needs its settings changed


def led_state(*, recording: bool, uploading: bool, error: bool, fault: bool = False) -> LedState:
    """Priority: fault over error over recording over uploading over idle."""
    if fault:
        return LedState.FAULT
    if error:
        return LedState.ERROR
    if recording:
        return LedState.RECORDING
    if uploading:
        return LedState.UPLOADING
    return LedState.IDLE


class StatusLed:
    def __init__(self, pin: int | str, *, pin_factory: Any = None) -> None:
        from gpiozero import LED

        self._led = LED(pin, pin_factory=pin_factory)
        self.state: LedState | None = None

    def show(self, state: LedState) -> None:
        if state == self.state:
            return
        self.state = state
        self._led.source = None  # stops the fault pattern's feeder, if it runs
        if state is LedState.FAULT:
            self._led.source_delay = FAULT_STEP_S
            self._led.source = itertools.cycle(FAULT_PATTERN)
        elif state is LedState.RECORDING:
            self._led.on()
        elif state is LedState.UPLOADING:
            self._led.blink(on_time=0.5, off_time=1.0)
        elif state is LedState.ERROR:
            self._led.blink(on_time=0.1, off_time=0.1)
        else:
            self._led.off()

    @property
    def lit(self) -> bool:
        return bool(self._led.is_lit)

    def close(self) -> None:
        self._led.close()


class StatusLedController:
    def __init__(
        self, led: StatusLed, status: Callable[[], LedState], *, interval_s: float = 0.25
    ) -> None:
        self.led = led
        self._status = status
        self._interval_s = interval_s
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            self.led.show(self._status())
            self._stop.wait(self._interval_s)
        self.led.show(LedState.IDLE)

    def stop(self) -> None:
        self._stop.set()
