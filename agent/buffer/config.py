"""Configuration of the local store and its disk quota."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from core.settings import Section

__all__ = ["BufferConfig", "Durability"]


class Durability(StrEnum):
    """SQLite ``synchronous`` in WAL mode.

    ``full`` fsyncs the WAL on every commit: a power cut cannot roll back a
    commit, so nothing the store said it had is lost. ``normal`` fsyncs only at
    checkpoints and may lose the last commits on power loss (never corrupts).
    """

    FULL = "full"
    NORMAL = "normal"


class BufferConfig(Section):
    database: Path | None = Field(default=None, description="Default: {data_dir}/buffer.db.")
    durability: Durability = Field(
        default=Durability.FULL, description="WAL + synchronous=FULL unless measured otherwise."
    )
    quota_bytes: int = Field(
        default=16 * 1024**3, ge=0, description="Clips on disk above this: evict synced ones."
    )
    min_free_bytes: int = Field(
        default=512 * 1024**2, ge=0, description="Free space below this: evict synced clips."
    )
    hard_limit_bytes: int = Field(
        default=24 * 1024**3, ge=0, description="Only above this are unsynced clips evicted."
    )
    hard_min_free_bytes: int = Field(
        default=64 * 1024**2,
        ge=0,
        description="Free space below this even with no synced clip left: evict unsynced ones "
        "(oldest first, counted and reported), or the store itself could not write.",
    )
    reserve_bytes: int = Field(
        default=16 * 1024**2,
        ge=0,
        le=1024**3,
        description="A file kept in the data dir and released when the disk is full, so the "
        "store can still record evictions and receipts.",
    )
    write_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="add_log/add_event/add_clip wait this long for a commit before raising.",
    )
    synced_retention_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="Acknowledged log and event rows are kept this long, then pruned.",
    )
    quick_check_on_open: bool = Field(
        default=True, description="PRAGMA quick_check at start; a failing store is quarantined."
    )
    retention_interval_s: float = Field(default=10.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _limits_in_order(self) -> BufferConfig:
        if self.hard_limit_bytes < self.quota_bytes:
            raise ValueError(
                f"hard_limit_bytes ({self.hard_limit_bytes}) must be at least quota_bytes "
                f"({self.quota_bytes}): unsynced clips go only after synced ones"
            )
        if self.hard_min_free_bytes > self.min_free_bytes:
            raise ValueError(
                f"hard_min_free_bytes ({self.hard_min_free_bytes}) must not exceed "
                f"min_free_bytes ({self.min_free_bytes})"
            )
        return self
