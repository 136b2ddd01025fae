"""What one check of ``sideline agent check`` found: a name, a verdict, and what to fix."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckResult"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str  # what was tried and seen; on failure, what to change
