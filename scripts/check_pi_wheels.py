"""Does every runtime dependency of a box install on a Raspberry Pi?

    python scripts/check_pi_wheels.py [--extras agent,pi] [--python 3.11]

Raspberry Pi OS Bookworm (64-bit) is Debian 12 on aarch64 with Python 3.11
and glibc 2.36, so a package installs there without a compiler if PyPI has a
wheel for ``cp311`` (or ``abi3``, or pure ``none``) on ``manylinux2014_aarch64``
(= ``manylinux_2_17``) or any ``manylinux_2_x_aarch64`` up to 2.36 (this
checks 2_17 and 2_28, the tags aarch64 wheels are built for today). The
script asks pip to resolve and download, as binaries only and for that
platform, the base dependencies and the given extras with everything they
pull in, and prints each package with the wheel it found. Packages without a
wheel must be in :data:`FROM_ELSEWHERE` with how a box gets them (an apt
package, or a source build with named apt packages); any other one fails the
check. The result is what ``firmware-notes/raspberry-pi.md`` shows.

It needs the package index (PyPI), and downloads the wheels (~100 MB) into a
temporary folder that it deletes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64")

FROM_ELSEWHERE = {
    "systemd-python": (
        "pip builds it on the Pi from its sdist after "
        "`apt install libsystemd-dev pkg-config gcc python3-dev`; or use Debian's python3-systemd"
    ),
}
"""Requirement name -> how a Raspberry Pi gets it, when PyPI has no aarch64 wheel."""

APT_ONLY = {
    "picamera2": "`apt install python3-picamera2` (Raspberry Pi OS; needs libcamera, not on PyPI "
    "as a working wheel); the venv is made with --system-site-packages",
}
"""Used by the agent but never installed from PyPI on a box."""


def requirements(extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = list(project["dependencies"])
    for extra in extras:
        found += project["optional-dependencies"][extra]
    return found


def name_of(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match is not None, requirement
    return match.group(0).lower().replace("_", "-")


def download(requirements: list[str], python: str, dest: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--abi",
        f"cp{python.replace('.', '')}",
        "--abi",
        "abi3",
        "--abi",
        "none",
        "--dest",
        str(dest),
    ]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return subprocess.run(command + requirements, capture_output=True, text=True)


def source_available(requirement: str, dest: Path) -> bool:
    """PyPI has a source distribution of ``requirement`` (so the Pi can build it)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--no-binary=:all:", "--dest", str(dest)]
    return subprocess.run([*command, requirement], capture_output=True, text=True).returncode == 0


def wheel_rows(dest: Path) -> list[tuple[str, str, str]]:
    """(name, version, tags) of each downloaded wheel."""
    rows = []
    for wheel in sorted(dest.glob("*.whl")):
        parts = wheel.stem.split("-")
        name, version, tags = parts[0], parts[1], "-".join(parts[-3:])
        rows.append((name.lower().replace("_", "-"), version, tags))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", default="agent,pi")
    parser.add_argument("--python", default="3.11")
    args = parser.parse_args()
    extras = [e for e in args.extras.split(",") if e]
    wanted = requirements(extras)
    elsewhere = [r for r in wanted if name_of(r) in FROM_ELSEWHERE]
    binary = [r for r in wanted if name_of(r) not in FROM_ELSEWHERE]
    print(
        f"sideline[{','.join(extras)}] on Python {args.python}, linux aarch64 "
        f"({', '.join(PLATFORMS)}), binary wheels only:"
    )
    with tempfile.TemporaryDirectory(prefix="pi-wheels-") as folder:
        dest = Path(folder)
        result = download(binary, args.python, dest)
        rows = wheel_rows(dest)
        for name, version, tags in rows:
            print(f"  [wheel] {name} {version} ({tags})")
    ok = result.returncode == 0
    if not ok:
        print("  [FAIL] pip could not resolve every package as an aarch64 wheel:")
        for line in (result.stderr or result.stdout).strip().splitlines()[-12:]:
            print(f"         {line}")
    for requirement in elsewhere:
        with tempfile.TemporaryDirectory(prefix="pi-wheels-") as folder:
            as_wheel = download([requirement], args.python, Path(folder)).returncode == 0
            sdist = source_available(requirement, Path(folder))
        found = (
            "a wheel exists now: move it out of FROM_ELSEWHERE"
            if as_wheel
            else ("no aarch64 wheel; sdist on PyPI" if sdist else "no aarch64 wheel and NO sdist")
        )
        ok &= sdist or as_wheel
        print(f"  [apt/source] {requirement} ({found}): {FROM_ELSEWHERE[name_of(requirement)]}")
    for name, how in APT_ONLY.items():
        print(f"  [apt] {name}: {how}")
    top = {name_of(r) for r in binary}
    missing = sorted(top - {name for name, _, _ in rows})
    if ok and missing:
        ok = False
        print(f"  [FAIL] no wheel downloaded for: {', '.join(missing)}")
    print(
        f"result: {len(rows)} wheels, {len(elsewhere) + len(APT_ONLY)} from apt or source; "
        + ("every dependency installs on a Pi" if ok else "NOT every dependency installs")
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
