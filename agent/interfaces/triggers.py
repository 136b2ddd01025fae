"""What every trigger sends to the clip writer, whichever its source.

The button, the LAN endpoint, cloud commands and detection rules all build a
:class:`ClipRequest` and call :meth:`ClipTrigger.request_clip`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from agent.errors import AgentError
from protocol import Trigger

__all__ = ["ClipRequest", "ClipTrigger", "TriggerRejected"]


class TriggerRejected(AgentError, ValueError):
    """The request cannot be carried out (window out of bounds, unknown camera, ...).

    The message says why, naming the camera; nothing else is affected.
    """


@dataclass(frozen=True, slots=True)
class ClipRequest:
    trigger: Trigger  # who/what, when (the T of T - pre .. T + post), note, command id
    camera_id: str | None = None  # None: every camera
    pre_s: float | None = None  # None: the configured default
    post_s: float | None = None
    session_id: UUID | None = None  # None: the active session, if any; else the cloud assigns


class ClipTrigger(Protocol):
    def request_clip(self, request: ClipRequest) -> list[UUID]:
        """Start (or extend) a clip; return the clip id per camera at once.

        Raises :class:`TriggerRejected` for a request that cannot be honoured.
        """
        ...
