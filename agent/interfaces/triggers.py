"""What every trigger sends to the clip writer, whichever its source.

The button, the LAN endpoint, cloud commands and detection rules all build a
:class:`ClipRequest` and call :meth:`ClipTrigger.request_clip`. A range cut
from the recording (a cloud ``clip_range``, a tag from the box's button) is a
:class:`RangeClipRequest` to a :class:`RangeClipper`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from agent.errors import AgentError
from protocol import Trigger

__all__ = ["ClipRequest", "ClipTrigger", "RangeClipRequest", "RangeClipper", "TriggerRejected"]


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


@dataclass(frozen=True, slots=True)
class RangeClipRequest:
    """Clip ``[start, end]`` out of the recording (segments on disk and the ring)."""

    trigger: Trigger  # source (cloud, button), the moment, the command id, who asked, note
    start: datetime
    end: datetime
    camera_id: str | None = None  # None: every camera
    session_id: UUID | None = None
    log_id: UUID | None = None  # the tag the clips are for
    replaces: UUID | None = None  # a re-trim: the clip the new one replaces


class RangeClipper(Protocol):
    def clip_range(self, request: RangeClipRequest) -> list[UUID]:
        """Return the new clip ids at once; raise TriggerRejected when it cannot be done."""
        ...
