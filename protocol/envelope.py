"""The envelope every message carries, whichever way it travels."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from protocol.ids import RecordId, Segment, new_id
from protocol.times import UtcDateTime, utc_now

__all__ = ["MAX_PAYLOAD_BYTES", "MAX_RECORDS_PER_BATCH", "PROTOCOL_VERSION", "Message", "WireModel"]

PROTOCOL_VERSION: Final = 1
"""Bumped on any change that an older peer could not read. See docs/protocol/README.md."""

MAX_PAYLOAD_BYTES = 256 * 1024
"""A payload above this is refused unread; batches are sized to stay well below it."""

MAX_RECORDS_PER_BATCH = 500


class WireModel(BaseModel):
    """Base of every model that crosses the wire: unknown fields are errors, values
    immutable, and a float is a finite number (JSON has no NaN or Infinity)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Message(WireModel):
    """Envelope fields; each channel's message adds its body fields beside them."""

    protocol: Literal[1] = Field(
        default=PROTOCOL_VERSION, description="Protocol version of this message."
    )
    message_id: RecordId = Field(
        default_factory=new_id, description="UUIDv7 of this message (not of its records)."
    )
    org: Segment = Field(description="Organisation the sending or receiving device belongs to.")
    device_id: Segment = Field(description="The device that sent it, or that it is addressed to.")
    sent_at: UtcDateTime = Field(default_factory=utc_now, description="When it was composed.")

    @model_validator(mode="before")
    @classmethod
    def _version_required_on_the_wire(cls, data: Any, info: ValidationInfo) -> Any:
        # In code the version defaults to ours; a payload must state it, since a
        # message without one cannot be told apart from a future format.
        if info.context and info.context.get("wire") and isinstance(data, dict):
            if "protocol" not in data:
                raise ValueError("'protocol' (the protocol version) is required")
        return data
