"""Reading a down-channel message: decode it, then check it is addressed to this box.

Receipts, commands and the desired state all arrive on topics the broker only
lets this device read, but the topic is not the message: a payload that names
another organisation or device is refused, never acted on. Each reader decides
what refusing means (a log line, or a ``refused`` ack for a command).
"""

from __future__ import annotations

from typing import TypeVar

from agent.errors import AgentError
from protocol import Message, decode_as

__all__ = ["Misaddressed", "decode_for"]

M = TypeVar("M", bound=Message)


class Misaddressed(AgentError, ValueError):
    """A well-formed message addressed to another device; ``message`` is what was decoded."""

    def __init__(self, what: str, message: Message, *, org: str, device_id: str) -> None:
        super().__init__(
            f"{what} addressed to {message.org}/{message.device_id}; this is {org}/{device_id}"
        )
        self.message = message


def decode_for(model: type[M], payload: bytes, *, what: str, org: str, device_id: str) -> M:
    """The ``model`` in ``payload`` if it is addressed to ``org``/``device_id``.

    Raises :class:`protocol.ProtocolError` when it does not decode and
    :class:`Misaddressed` when it is another device's.
    """
    message = decode_as(model, payload, what=what)
    if message.org != org or message.device_id != device_id:
        raise Misaddressed(what, message, org=org, device_id=device_id)
    return message
