"""Sideline's composition root: the CLI, the demo, logging and the local service launchers.

Nothing in ``agent``, ``cloud``, ``protocol`` or ``core`` imports this package.
"""

from core import __version__

__all__ = ["__version__"]
