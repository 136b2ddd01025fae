"""The operations settings the cloud's processes share (``[health]`` in the cloud config)."""

from __future__ import annotations

from pydantic import Field

from core.settings import Section

__all__ = ["HealthConfig"]


class HealthConfig(Section):
    timeout_s: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="/readyz answers within this, whatever a dependency does: a check that "
        "has not answered by then is reported as failing.",
    )
    cache_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="A readiness check's result is reused this long (a burst of probes "
        "costs one check).",
    )
