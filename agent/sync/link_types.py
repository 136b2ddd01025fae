"""What the MQTT link exchanges with the rest of sync: publish requests, outcomes, events."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from protocol import Channel

__all__ = ["DeliveryOutcome", "LinkListener", "LinkStats", "PublishRequest"]


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"  # the broker's PUBACK said success
    REFUSED = "refused"  # PUBACK with a failure reason code (e.g. not authorized)
    NOT_SENT = "not_sent"  # dropped before reaching paho (offline QoS 0, queue full)


@dataclass(eq=False)
class PublishRequest:
    channel: Channel
    payload: bytes
    qos: int = 1
    retain: bool = False
    drop_if_offline: bool = False
    on_outcome: Callable[[DeliveryOutcome, str], None] | None = None


class LinkListener:
    """What the link tells the rest of sync; every call is on the link's thread: be quick."""

    def on_connected(self, session_present: bool) -> None:
        return None

    def on_disconnected(self, reason: str) -> None:
        return None

    def on_message(self, channel: Channel, payload: bytes) -> None:
        return None


@dataclass
class LinkStats:
    connects: int = 0
    published: int = 0
    delivered: int = 0
    refused: int = 0
    last_error: str | None = None
    connected_since: float | None = None  # monotonic
    history: deque[str] = field(default_factory=lambda: deque(maxlen=20))
