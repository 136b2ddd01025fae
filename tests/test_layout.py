"""The layout is the architecture: which package may import which.

``sideline`` (CLI, demo, launchers) sits on top and nothing below imports it;
agent and cloud share only ``protocol`` (the contract) and ``core``; neither of
those imports a side. Checked on the source, so a lazy import inside a function
counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> the first-party packages it must never import
FORBIDDEN = {
    "protocol": {"core", "agent", "cloud", "sideline"},
    "core": {"agent", "cloud", "sideline"},
    "agent": {"cloud", "sideline"},
    "cloud": {"agent", "sideline"},
}


def _imported_packages(path: Path) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_it_may(package: str) -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, imported in sorted(_imported_packages(path))
        if imported in FORBIDDEN[package]
    ]
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize("subsystem", ["capture", "detect", "triggers"])
def test_agent_subsystems_meet_only_through_interfaces(subsystem: str) -> None:
    """Capture knows no store, detection knows no camera, triggers know neither."""
    others = {"capture", "detect", "buffer", "triggers", "sync"} - {subsystem}
    offences = []
    for path in sorted((ROOT / "agent" / subsystem).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                if parts[0] == "agent" and len(parts) > 1 and parts[1] in others:
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}")
    assert not offences, "\n".join(offences)
