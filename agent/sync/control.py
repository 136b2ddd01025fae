"""The down channel's thread: desired state and commands, handled in arrival order.

The link's thread only hands payloads over; everything that touches the store
or calls into capture happens here, so a slow command never stalls the MQTT
connection and two commands never run at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.sync.commands import CommandProcessor
from agent.sync.desired import DesiredStateKeeper
from agent.sync.link_types import LinkListener
from protocol import Channel

__all__ = ["ControlChannel"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Inbound:
    channel: Channel
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Task:
    run: Callable[[], None]


class ControlChannel(LinkListener):
    def __init__(self, commands: CommandProcessor, desired: DesiredStateKeeper) -> None:
        self.commands = commands
        self.desired = desired
        self._queue: queue.Queue[_Inbound | _Task | None] = queue.Queue(maxsize=1000)
        self._stop = threading.Event()
        self._last_tick = time.monotonic()
        commands.defer = self.defer

    # --- link thread ---------------------------------------------------------

    def on_connected(self, session_present: bool) -> None:
        self.defer(self.commands.republish_pending)

    def on_message(self, channel: Channel, payload: bytes) -> None:
        if channel in (Channel.COMMANDS, Channel.DESIRED):
            try:
                self._queue.put_nowait(_Inbound(channel, payload))
            except queue.Full:
                log.error("dropped a %s message: 1000 are waiting already", channel.value)

    def defer(self, work: Callable[[], None]) -> None:
        try:
            self._queue.put_nowait(_Task(work))
        except queue.Full:
            log.error("dropped a control task: the queue is full")

    # --- control thread ------------------------------------------------------

    def alive(self, within_s: float) -> bool:
        return time.monotonic() - self._last_tick < within_s

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)

    def run(self) -> None:
        self.desired.load()
        while not self._stop.is_set():
            self._last_tick = time.monotonic()
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if item is None:
                continue
            try:
                if isinstance(item, _Task):
                    item.run()
                elif item.channel is Channel.COMMANDS:
                    self.commands.handle(item.payload)
                else:
                    self.desired.handle(item.payload)
            except Exception as exc:  # a failing store write or a bug: log it, keep serving
                self.commands.report_error(exc)
                log.exception("handling a control message failed")
