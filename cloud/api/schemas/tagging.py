"""Range clips a coach asks for, and re-trims."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from cloud.api.schemas.common import Input, Output
from cloud.api.schemas.records import ClipRequestPublic
from protocol.ids import Segment
from protocol.times import UtcDateTime

__all__ = ["ClipRequestsAccepted", "RangeClipCreate", "Retrim"]


class RangeClipCreate(Input):
    """A past range of the session from its devices: ``start``..``end``, or the last
    ``last_s`` seconds. Each device cuts it from its recording (one clip per camera)
    or refuses with the reason (no longer on the box, camera offline), on its command."""

    start: UtcDateTime | None = None
    end: UtcDateTime | None = None
    last_s: float | None = Field(default=None, gt=0, description="The last N seconds, up to now.")
    device_id: Segment | None = Field(default=None, description="Empty: every device.")
    camera_id: Segment | None = Field(default=None, description="Empty: every camera.")
    note: str | None = Field(default=None, max_length=500)


class Retrim(Input):
    """A clip's new window around its moment (its log's time, or its trigger's)."""

    lead_s: float = Field(ge=0, description="Seconds before the moment.")
    lag_s: float = Field(ge=0, description="Seconds after it.")


class ClipRequestsAccepted(Output):
    command_ids: list[UUID] = Field(description="One command per device; each says its answer.")
    requests: list[ClipRequestPublic]
