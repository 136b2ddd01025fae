"""The systemd unit shipped in deploy/: valid for systemd, Type=notify, hardened."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.procs import ROOT

UNIT = ROOT / "deploy" / "systemd" / "sideline-agent.service"


def service() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_unit_is_valid_for_systemd(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, (
        "systemd-analyze is needed to verify the unit: apt install systemd (setup.sh does)"
    )
    unit = tmp_path / "sideline-agent.service"
    # The real path exists only on a box; point ExecStart at this interpreter instead.
    unit.write_text(UNIT.read_text().replace("/opt/sideline/.venv/bin/sideline", sys.executable))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_notify_watchdog_and_hardening_are_set() -> None:
    values = service()
    assert values["Type"] == ["notify"] and values["NotifyAccess"] == ["main"]
    assert values["ExecStart"][0].endswith("sideline agent run --config /etc/sideline/agent.toml")
    assert int(values["WatchdogSec"][0]) >= 30
    for key, expected in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert values[key] == [expected], key
    assert values["ReadWritePaths"] == ["/var/lib/sideline"]
    # Stopping within systemd's bound: the daemon's drain (20 s by default) fits.
    assert int(values["TimeoutStopSec"][0]) > 20
