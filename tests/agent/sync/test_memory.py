"""Memory stays flat with 1,000,000 queued records (slow: the fill alone takes a minute)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.procs import ROOT, child_env


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_million_queued_records_wait_on_disk_not_in_memory() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "sync_offline_rss.py"),
            "--records",
            "1000000",
            "--seconds",
            "20",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=1100,
        check=True,
    )
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["backlog_logs"] == 1_000_000  # nothing was acked: nobody receipted
    assert facts["unreceipted"]["resent_messages"] > 0  # the window really cycled
    assert facts["unreceipted"]["paho_queue"] <= 3 * 16 + 64  # paho's own bound held
    assert facts["rss_growth"] < 64 * 1024**2  # vs a backlog of ~440 MB on disk
    assert facts["db_bytes"] > 300 * 1024**2
