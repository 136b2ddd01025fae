"""Running this checkout's code in a child process (agent, ingest, CLI).

Children get ``PYTHONPATH`` set to this checkout so that they import the code
under test, not whatever copy the virtualenv was installed from.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def sideline_argv(*args: str) -> list[str]:
    """``python -m sideline …`` with this interpreter."""
    return [sys.executable, "-m", "sideline", *args]
