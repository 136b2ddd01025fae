"""Acknowledge MQTT messages in the order they arrived, whichever writer finished first.

MQTT requires a client to send its PUBACKs in the order it received the
PUBLISH packets. With several writer threads, message 7 may commit before
message 5; its acknowledgement then waits until 5 and 6 are done too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cloud.ingest.decoding import Inbound

__all__ = ["OrderedAcks"]


class OrderedAcks:
    def __init__(
        self, send: Callable[[Inbound], bool], on_skip: Callable[[], None] | None = None
    ) -> None:
        self._send = send  # False: the message's connection is gone (the broker re-sends it)
        self._on_skip = on_skip
        self._lock = threading.Lock()
        self._next = 0
        self._done: dict[int, Inbound] = {}

    def ack(self, inbound: Inbound) -> bool:
        """Mark ``inbound`` committed; send every acknowledgement now in order."""
        with self._lock:
            self._done[inbound.sequence] = inbound
            while self._next in self._done:
                if not self._send(self._done.pop(self._next)) and self._on_skip is not None:
                    self._on_skip()
                self._next += 1
        return True
