"""The coach's triggers as daemon components: the GPIO button (with its LED) and the LAN endpoint."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

from agent.interfaces.sinks import RecordSink
from agent.interfaces.triggers import ClipTrigger
from agent.triggers.button import ButtonTrigger
from agent.triggers.config import ButtonConfig, LanTriggerConfig
from agent.triggers.lan import LanTriggerServer, MetricsRenderer
from agent.triggers.led import StatusLed, StatusLedController
from agent.triggers.tags import Tagger
from agent.wiring.status import StatusBoard

__all__ = ["ButtonPart", "LanPart"]

log = logging.getLogger(__name__)


class ButtonPart:
    """The button and, when ``led_pin`` is set, the status LED beside it.

    gpiozero delivers edges on its own thread, so the button has no loop to
    watch; the LED's loop is watched when there is one.
    """

    def __init__(
        self,
        config: ButtonConfig,
        clips: ClipTrigger,
        records: RecordSink,
        board: StatusBoard,
        active_session: Callable[[], UUID | None],
        *,
        tagger: Tagger | None = None,
        name: str = "button",
    ) -> None:
        self.config = config
        self.name = name
        self._clips = clips
        self._records = records
        self._board = board
        self._active_session = active_session
        self._tagger = tagger
        self.button: ButtonTrigger | None = None
        self.led: StatusLedController | None = None
        self._led_thread: threading.Thread | None = None

    def start(self) -> None:
        # Built here, not in __init__: opening the pin claims it (gpiozero raises if it is busy).
        self.button = ButtonTrigger(
            self.config,
            self._clips,
            self._records,
            active_session=self._active_session,
            tagger=self._tagger,
        )
        if self.config.led_pin is not None:
            self.led = StatusLedController(StatusLed(self.config.led_pin), self._board.led_state)
            self._led_thread = threading.Thread(
                target=self.led.run, name="sideline-led", daemon=True
            )
            self._led_thread.start()
        log.info(
            "button on %s%s",
            self.button.name,
            f", status LED on {self.config.led_pin}" if self.config.led_pin is not None else "",
        )

    def stop(self, timeout_s: float) -> None:
        if self.button is not None:
            self.button.close()
        if self.led is not None:
            self.led.stop()
            if self._led_thread is not None:
                self._led_thread.join(timeout_s)
            self.led.led.close()

    def alive(self) -> bool:
        if self.button is None:
            return False
        return self._led_thread is None or self._led_thread.is_alive()


class LanPart:
    """The phone endpoint on the field's LAN; its port is bound at start-up (a busy port fails it)."""

    name = "lan"

    def __init__(
        self,
        config: LanTriggerConfig,
        clips: ClipTrigger,
        board: StatusBoard,
        *,
        metrics: MetricsRenderer | None = None,
    ) -> None:
        self.config = config
        self._clips = clips
        self._board = board
        self._metrics = metrics
        self.server: LanTriggerServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.server = LanTriggerServer(
                self.config, self._clips, status=self._board.as_json, metrics=self._metrics
            )
        except OSError as exc:
            raise OSError(
                f"the phone endpoint cannot listen on {self.config.host}:{self.config.port} "
                f"({exc.strerror or exc}); free port {self.config.port} or set triggers.lan.port "
                "to a free one (the box records and syncs without it)"
            ) from exc
        self._thread = threading.Thread(target=self.server.run, name="sideline-lan", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        if self.server is not None:
            self.server.stop()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
