"""Scheduling's refusals, as kinds of :mod:`cloud.errors` (the API maps them by kind).

Most are a plain kind with their own ``code`` (``Conflict(..., code="series_over")``);
:class:`TimeTaken` is a type of its own because callers catch it (a booking that
loses a race, an extension that writes the occurrence as cancelled instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from cloud.errors import Conflict, FieldProblem, InvalidInput

__all__ = ["BusyConflict", "TimeTaken", "invalid"]


@dataclass(frozen=True)
class BusyConflict:
    """A claim on the host's time that a new one would overlap."""

    starts_at: datetime
    ends_at: datetime
    kind: str  # "session" or "booking"
    ref: UUID | None  # the session or booking id (only within the caller's organisation)

    def describe(self) -> str:
        what = f"{self.kind} {self.ref}" if self.ref is not None else f"a {self.kind}"
        return f"{what} from {self.starts_at.isoformat()} to {self.ends_at.isoformat()}"


class TimeTaken(Conflict):
    """The host is not free: the time overlaps one of their sessions or bookings."""

    code = "time_taken"

    def __init__(
        self,
        message: str,
        *,
        conflicts: Sequence[BusyConflict] = (),
        fields: Sequence[FieldProblem] = (),
    ) -> None:
        super().__init__(message, fields=fields)
        self.conflicts = list(conflicts)


def invalid(path: str, code: str, message: str) -> InvalidInput:
    """A 422 naming one field: ``raise invalid("body.start", "in_the_past", "...")``."""
    return InvalidInput(message, fields=[FieldProblem(path=path, code=code, message=message)])
