"""The MQTT link's seam: :class:`Link` is what the rest of sync may ask of it, and the
publish requests, outcomes and events it exchanges with them.

:class:`agent.sync.link.MqttLink` is the real link (paho, one thread); the record
publisher, the command handler and the heartbeat are typed against :class:`Link`,
so a test can stand in for the broker with a few lines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from protocol import Channel

__all__ = ["DeliveryOutcome", "Link", "LinkListener", "LinkStats", "PublishRequest"]


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


class Link(Protocol):
    """What sync's publishers need of the MQTT link."""

    @property
    def connected(self) -> bool:
        """Connected to the broker now (a publish may still fail)."""
        ...

    def publish(self, request: PublishRequest) -> None:
        """Queue ``request``; its ``on_outcome`` is called once, on the link's thread."""
        ...

    def add_listener(self, listener: LinkListener) -> None:
        """Be told of connects, disconnects and down-channel messages."""
        ...
