"""glibc malloc settings for a long-running process that holds a ring of video packets.

Measured on the agent (``bench/agent_memory.py``, docs/budget.md): with
glibc's defaults the pre-roll's packets and the 8 MiB reads of multipart
uploads leave 25-30 MiB more resident than they use. The cause is malloc's
*dynamic* mmap threshold: once a large block that was mmapped is freed, the
threshold rises to that block's size (up to 32 MiB), so later keyframes and
upload parts come from the heap and per-thread arenas, whose freed space is
seldom given back. Fixing the threshold (which also turns the dynamic
adjustment off) keeps every block from 128 KiB up in its own mapping,
returned to the kernel when it is freed; two arenas instead of eight per core
keep the threads' small allocations from spreading over many heaps.

Call :func:`tune_malloc` first thing in the process, before threads exist.
The same can be set from outside with ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_ARENA_MAX``; values already in the environment win.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

__all__ = ["ARENA_MAX", "MMAP_THRESHOLD_BYTES", "tune_malloc"]

log = logging.getLogger(__name__)

MMAP_THRESHOLD_BYTES = 128 * 1024
ARENA_MAX = 2

# mallopt(3) parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc(
    *, mmap_threshold: int = MMAP_THRESHOLD_BYTES, arena_max: int = ARENA_MAX
) -> dict[str, int]:
    """Apply the settings through ``mallopt``; returns what was set (empty off glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return {}
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return {}
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied: dict[str, int] = {}
    settings = (
        ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, mmap_threshold),
        # Give freed memory at the top of the heap back once 2 thresholds are free.
        ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, 2 * mmap_threshold),
        ("MALLOC_ARENA_MAX", _M_ARENA_MAX, arena_max),
    )
    for variable, parameter, value in settings:
        if variable in os.environ:
            continue  # the operator's choice
        if mallopt(parameter, value) == 1:
            applied[variable] = value
        else:
            log.debug("mallopt(%d, %d) was refused", parameter, value)
    return applied
