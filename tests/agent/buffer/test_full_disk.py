"""SQLITE_FULL / ENOSPC on a real full file system never corrupts the store or stops it.

Why a real one: an injected error shows only that our handler runs. Running out
of space for real also tests SQLite's own behaviour (a WAL that cannot grow, a
checkpoint that cannot complete) and the order of our recovery steps. The file
system is a 3 MiB tmpfs mounted in a private mount namespace (``unshare -m``;
as non-root, inside a user namespace), so it vanishes with the child process
even if the test is killed; a loop-mounted image would need losetup and root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.procs import child_env


def unshare_argv() -> list[str]:
    unshare = shutil.which("unshare")
    assert unshare, (
        "util-linux's unshare is needed to mount a private tmpfs (apt install util-linux)"
    )
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return [unshare, *user, "--mount", "--propagation", "private"]


def test_a_full_disk_is_survived_and_nothing_stored_is_lost(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *unshare_argv(),
            sys.executable,
            "-m",
            "tests.agent.buffer.full_disk_scenario",
            str(tmp_path / "fs"),
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["reserve_held_at_start"]
    # Filling the disk made SQLite report SQLITE_FULL; the store released its reserve
    # and evicted the synced clip to go on, then refused clearly once nothing was left.
    assert facts["reserve_released"] and facts["clip_file_evicted"]
    assert facts["stored_while_filling"] > 0
    assert facts["refusals"] and "not stored" in facts["refusals"][0]
    # Nothing died and nothing broke while the disk was full.
    assert facts["writer_alive_when_full"] and facts["publisher_alive_when_full"]
    assert facts["integrity_when_full"] == "ok"
    # Once space was back, sync caught up and every record the store accepted is there.
    assert facts["acked_after_recovery"] > 0
    assert facts["missing_after_reopen"] == 0
    assert facts["integrity_after"] == "ok"
