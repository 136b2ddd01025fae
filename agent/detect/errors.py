"""Errors of the detection package."""

from __future__ import annotations

from agent.errors import AgentError
from core.settings import ConfigError

__all__ = ["ModelError"]


class ModelError(AgentError, ConfigError):
    """A model that cannot be used: the message names the file, what was expected and found.

    A :class:`ConfigError`, so ``sideline agent check`` and start-up report it the
    same way as a bad configuration key (exit 2, no traceback).
    """
