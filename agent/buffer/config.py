"""Configuration of the local store and its disk quota."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from sideline.settings import Section

__all__ = ["BufferConfig"]


class BufferConfig(Section):
    database: Path | None = Field(default=None, description="Default: {data_dir}/buffer.db.")
    quota_bytes: int = Field(
        default=16 * 1024**3, ge=0, description="Clips on disk above this: evict synced ones."
    )
    min_free_bytes: int = Field(default=512 * 1024**2, ge=0)
    hard_limit_bytes: int = Field(
        default=24 * 1024**3, ge=0, description="Only above this are unsynced clips evicted."
    )
