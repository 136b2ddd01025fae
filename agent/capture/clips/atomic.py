"""Files that appear whole or not at all: temp file, fsync, rename, fsync the directory.

A clip is committed in this order, so that a power cut at any point leaves
either a complete clip or nothing the store will ever see:

1. ``{id}.json`` — the clip's manifest (a :class:`LocalClip`), itself atomic;
   while it exists the clip is *in flight*;
2. ``{id}.jpg`` — the thumbnail, atomic;
3. ``{id}.mp4`` — written as ``.{id}.mp4.partial``, fsynced and renamed: the
   commit point;
4. the clip is handed to the store; then the manifest is deleted.

At start-up (:func:`recover_directory`) every ``*.partial`` is deleted; a
manifest whose MP4 exists is handed to the store again (the store is idempotent
on the clip id); a manifest without its MP4 is an interrupted write: it and
its thumbnail are deleted.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import TypeAdapter

from agent.interfaces.sinks import LocalClip

__all__ = [
    "PARTIAL_SUFFIX",
    "RecoveryReport",
    "fsync_directory",
    "partial_path",
    "publish",
    "read_manifest",
    "recover_directory",
    "write_atomic",
    "write_manifest",
]

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
_manifest_adapter: TypeAdapter[LocalClip] = TypeAdapter(LocalClip)


def partial_path(final: Path) -> Path:
    """Hidden temp name beside ``final``: same directory, so the rename is atomic."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temp: Path, final: Path) -> None:
    """fsync ``temp``, rename it to ``final`` and fsync the directory."""
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, final)
    fsync_directory(final.parent)


def write_atomic(final: Path, data: bytes) -> None:
    temp = partial_path(final)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        publish(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def write_manifest(path: Path, clip: LocalClip) -> None:
    write_atomic(path, _manifest_adapter.dump_json(clip))


def read_manifest(path: Path) -> LocalClip:
    return _manifest_adapter.validate_json(path.read_bytes())


class RecoveryReport:
    def __init__(self) -> None:
        self.partials_removed: list[Path] = []
        self.interrupted_removed: list[Path] = []
        self.clips_handed_over: list[LocalClip] = []


def recover_directory(directory: Path, hand_over: Callable[[LocalClip], None]) -> RecoveryReport:
    """Clean up after a crash or power cut (see the module docstring)."""
    report = RecoveryReport()
    if not directory.exists():
        return report
    for partial in sorted(directory.rglob(f".*{PARTIAL_SUFFIX}")):
        partial.unlink(missing_ok=True)
        report.partials_removed.append(partial)
    for manifest in sorted(directory.rglob("*.json")):
        try:
            clip = read_manifest(manifest)
        except (ValueError, OSError) as exc:
            log.error("clip manifest %s is unreadable (%s); removing it", manifest, exc)
            manifest.unlink(missing_ok=True)
            continue
        if clip.path.exists():
            try:
                hand_over(clip)
            except Exception:
                log.exception(
                    "clip %s: the store refused it at start-up; kept for next time", clip.id
                )
                continue
            report.clips_handed_over.append(clip)
        else:
            if clip.thumbnail_path is not None:
                clip.thumbnail_path.unlink(missing_ok=True)
            report.interrupted_removed.append(clip.path)
        manifest.unlink(missing_ok=True)
    for folder in {p.parent for p in report.partials_removed} | {directory}:
        if folder.exists():
            fsync_directory(folder)
    return report
