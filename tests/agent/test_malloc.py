"""glibc malloc settings of the agent's process (agent/malloc.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.procs import child_env

PROBE = """
import json, sys
from agent.malloc import tune_malloc
print(json.dumps(tune_malloc()))
"""


def run_probe(**env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=child_env(**env), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_threshold_and_arenas_are_set_on_glibc() -> None:
    assert run_probe() == (
        '{"MALLOC_MMAP_THRESHOLD_": 131072, "MALLOC_TRIM_THRESHOLD_": 262144, '
        '"MALLOC_ARENA_MAX": 2}'
    )


def test_an_operators_environment_wins() -> None:
    applied = run_probe(MALLOC_ARENA_MAX="4", MALLOC_MMAP_THRESHOLD_="65536")
    assert applied == '{"MALLOC_TRIM_THRESHOLD_": 262144}'
