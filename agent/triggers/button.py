"""The hardware button on the box (gpiozero): short press = clip or tag, long press = an action.

The moment a coach means is when the button goes *down*, so that time is the
trigger's T, whatever happens after. Releasing before ``hold_s`` is a short
press: a clip from the clip writer (from every camera, or the one configured),
or with ``press = "tag"`` a tag (:mod:`agent.triggers.tags`: a log and a clip
of the tag's window from every camera). Holding it for ``hold_s`` is a long
press and runs the configured action instead (a marker log, or a tag, at the
press time); with no long-press action a held press is just a press.
Contact bounce is filtered here, by settling: every edge restarts a
``bounce_s`` timer, and only the state the pin holds when the timer runs out
counts, while the press time is that of the burst's first edge. gpiozero's own
``bounce_time`` depends on the pin library (its mock pins ignore it), so the
button does not rely on it.

gpiozero runs these callbacks on its own thread; ``request_clip`` returns at
once, so the button is ready again immediately.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from agent.interfaces.sinks import RecordSink
from agent.interfaces.triggers import ClipRequest, ClipTrigger, TriggerRejected
from agent.triggers.config import ButtonConfig, LongPressAction, PressAction, TagConfig
from agent.triggers.tags import Tagger
from protocol import LogRecord, LogSource, Trigger, TriggerSource, new_id, utc_now

__all__ = ["ButtonTrigger"]

log = logging.getLogger(__name__)


class ButtonTrigger:
    def __init__(
        self,
        config: ButtonConfig,
        clips: ClipTrigger,
        records: RecordSink,
        *,
        camera_id: str | None = None,
        active_session: Callable[[], UUID | None] = lambda: None,
        pin_factory: Any = None,
        clock: Callable[[], datetime] = utc_now,
        tagger: Tagger | None = None,
    ) -> None:
        from gpiozero import Button

        self.config = config
        self._clips = clips
        self._records = records
        self._tagger = tagger
        self._camera_id = camera_id
        self._active_session = active_session
        self._clock = clock
        self.name = f"gpio{config.pin}" if isinstance(config.pin, int) else str(config.pin).lower()
        self._pressed_at: datetime | None = None
        self._burst_start: datetime | None = None
        self._stable_pressed = False
        self._held = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.presses = 0
        self.clip_ids: list[UUID] = []
        self.rejections: list[str] = []
        self.markers = 0
        self.tag_log_ids: list[UUID] = []
        self._button = Button(
            config.pin,
            pull_up=config.pull_up,
            hold_time=config.hold_s,
            pin_factory=pin_factory,
        )
        self._button.when_pressed = self._on_edge
        self._button.when_released = self._on_edge
        self._button.when_held = self._on_held

    # -- debounce --------------------------------------------------------------------

    def _on_edge(self) -> None:
        with self._lock:
            if self._burst_start is None and not self._stable_pressed:
                self._burst_start = self._clock()  # the coach's moment: the first contact
            if self._timer is not None:
                self._timer.cancel()
            if self.config.bounce_s <= 0:
                self._timer = None
            else:
                self._timer = threading.Timer(self.config.bounce_s, self._settle)
                self._timer.daemon = True
                self._timer.start()
        if self.config.bounce_s <= 0:
            self._settle()

    def _settle(self) -> None:
        pressed = bool(self._button.is_pressed)
        with self._lock:
            if pressed == self._stable_pressed:
                if not pressed:
                    self._burst_start = None  # chatter that came to nothing
                return
            self._stable_pressed = pressed
            if pressed:
                self._pressed_at = self._burst_start or self._clock()
                self._held = False
                self.presses += 1
                return
            self._burst_start = None
        self._on_released()

    # -- presses ---------------------------------------------------------------------

    def _on_held(self) -> None:
        if self._held or self.config.long_press is LongPressAction.NONE:
            return  # without a long-press action, releasing it is a press like any other
        self._held = True
        at = self._pressed_at or self._clock()
        if self.config.long_press is LongPressAction.TAG and self.config.tag is not None:
            self._tag(self.config.tag, at, "long")
        elif self.config.long_press is LongPressAction.MARKER:
            record = LogRecord(
                id=new_id(),
                session_id=self._active_session(),
                camera_id=self._camera_id,
                occurred_at=at,
                source=LogSource.MARKER,
                type="marker",
                data={"by": self.name, "press": "long"},
            )
            try:
                self._records.add_log(record)
                self.markers += 1
                log.info("button %s: long press, marker %s", self.name, record.id)
            except Exception:
                log.exception("button %s: marker could not be stored", self.name)

    def _tag(self, tag: TagConfig, at: datetime, press: str) -> None:
        if self._tagger is None:
            log.error("button %s: a tag press, but tagging is not wired on this box", self.name)
            return
        try:
            result = self._tagger.tag(tag, at, by=self.name)
        except Exception:
            log.exception("button %s: the tag could not be stored", self.name)
            return
        self.tag_log_ids.append(result.log_id)
        self.clip_ids.extend(result.clip_ids)
        if result.refused:
            self.rejections.append(result.refused)
        log.info("button %s: %s press, tag %s (log %s)", self.name, press, tag.type, result.log_id)

    def _on_released(self) -> None:
        if self._held or self._pressed_at is None:
            return
        at, self._pressed_at = self._pressed_at, None
        if self.config.press is PressAction.TAG and self.config.tag is not None:
            self._tag(self.config.tag, at, "short")
            return
        request = ClipRequest(
            trigger=Trigger(source=TriggerSource.BUTTON, at=at, by=self.name),
            camera_id=self._camera_id,
        )
        try:
            ids = self._clips.request_clip(request)
        except TriggerRejected as exc:
            self.rejections.append(str(exc))
            log.warning("button %s: no clip: %s", self.name, exc)
            return
        except Exception:
            log.exception("button %s: clip request failed", self.name)
            return
        self.clip_ids.extend(ids)
        log.info("button %s: clip %s", self.name, ", ".join(str(i) for i in ids))

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._button.close()
