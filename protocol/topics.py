"""MQTT topic names: ``{prefix}/v1/{org}/{device}/{channel}``.

Every topic a device or the cloud uses is built and parsed here, so that a
wildcard character or an empty level can never reach the broker from an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import TopicError
from protocol.ids import is_valid_segment

__all__ = [
    "DOWN_CHANNELS",
    "TOPIC_VERSION",
    "UP_CHANNELS",
    "Channel",
    "Topic",
    "parse_topic",
    "shared_subscription",
    "topic_filter",
]

TOPIC_VERSION = "v1"


class Channel(StrEnum):
    """The last topic level. Up channels are published by devices, down by the cloud."""

    # up: device -> cloud
    STATUS = "status"  # retained; the last will publishes "offline" here
    HEARTBEAT = "heartbeat"
    LOGS = "logs"
    CLIPS = "clips"
    EVENTS = "events"
    ACKS = "acks"  # command acknowledgements
    # down: cloud -> device
    DESIRED = "desired"  # retained desired state
    COMMANDS = "commands"
    RECEIPTS = "receipts"  # the ingest's "committed" receipts


UP_CHANNELS = frozenset(
    {Channel.STATUS, Channel.HEARTBEAT, Channel.LOGS, Channel.CLIPS, Channel.EVENTS, Channel.ACKS}
)
DOWN_CHANNELS = frozenset({Channel.DESIRED, Channel.COMMANDS, Channel.RECEIPTS})


def _check_prefix(prefix: str) -> None:
    levels = prefix.split("/")
    if not prefix or not all(is_valid_segment(level) for level in levels):
        raise TopicError(
            f"invalid topic prefix {prefix!r}: each level must be 1-64 of A-Z a-z 0-9 _ . - "
            "(no '+', '#', empty levels or leading '$')"
        )


def _check_segment(what: str, value: str) -> None:
    if not is_valid_segment(value):
        raise TopicError(
            f"invalid {what} {value!r}: must be 1-64 of A-Z a-z 0-9 _ . - starting with a "
            "letter or digit (no '+', '#', '/' or empty)"
        )


@dataclass(frozen=True, slots=True)
class Topic:
    prefix: str
    org: str
    device: str
    channel: Channel

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)
        _check_segment("org id", self.org)
        _check_segment("device id", self.device)
        if not isinstance(self.channel, Channel):
            raise TopicError(f"unknown channel {self.channel!r}")

    def __str__(self) -> str:
        return f"{self.prefix}/{TOPIC_VERSION}/{self.org}/{self.device}/{self.channel.value}"

    @property
    def is_up(self) -> bool:
        return self.channel in UP_CHANNELS


def parse_topic(topic: str, *, prefix: str | None = None) -> Topic:
    """Parse a concrete topic; raise :class:`TopicError` naming what is wrong."""
    levels = topic.split("/")
    if len(levels) < 5:
        raise TopicError(
            f"topic {topic!r} has {len(levels)} levels; expected "
            f"'{{prefix}}/{TOPIC_VERSION}/{{org}}/{{device}}/{{channel}}'"
        )
    *prefix_levels, version, org, device, channel = levels
    found_prefix = "/".join(prefix_levels)
    if prefix is not None and found_prefix != prefix:
        raise TopicError(f"topic {topic!r} does not start with prefix {prefix!r}")
    if version != TOPIC_VERSION:
        raise TopicError(
            f"topic {topic!r} has version level {version!r}; expected {TOPIC_VERSION!r}"
        )
    try:
        parsed_channel = Channel(channel)
    except ValueError:
        allowed = ", ".join(c.value for c in Channel)
        raise TopicError(
            f"topic {topic!r} has unknown channel {channel!r}; one of: {allowed}"
        ) from None
    return Topic(prefix=found_prefix, org=org, device=device, channel=parsed_channel)


def topic_filter(prefix: str, channel: Channel, *, org: str = "+", device: str = "+") -> str:
    """A subscription filter for one channel; ``org``/``device`` may be ``+``."""
    _check_prefix(prefix)
    if org != "+":
        _check_segment("org id", org)
    if device != "+":
        _check_segment("device id", device)
    return f"{prefix}/{TOPIC_VERSION}/{org}/{device}/{channel.value}"


def shared_subscription(group: str, topic_filter_: str) -> str:
    """``$share/{group}/{filter}``: the broker splits messages among the group's members."""
    _check_segment("shared subscription group", group)
    return f"$share/{group}/{topic_filter_}"
