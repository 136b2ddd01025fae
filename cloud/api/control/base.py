"""What the API needs from device control: two calls, behind a protocol.

The ingest issue owns the control service (``cloud/control.py``: publishing
retained desired state and one-shot commands, recording acknowledgements). Until
it is merged, :class:`cloud.api.control.mqtt.MqttDeviceControl` implements this
protocol against the real broker; the two are meant to be unified behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from cloud.models import Command, Device
from protocol.control import ActiveSession, CommandBody

__all__ = ["DesiredStateOutcome", "DeviceControl"]


@dataclass(frozen=True)
class DesiredStateOutcome:
    """What became of one device's desired-state change."""

    device_id: str
    revision: int
    published: bool  # the broker took the retained message (PUBACK)
    error: str | None = None


class DeviceControl(Protocol):
    def set_active_session(
        self, *, device: Device, session: ActiveSession | None, by_user: UUID | None
    ) -> DesiredStateOutcome:
        """Record and publish (retained) the device's desired state with ``session``
        as its active session (None: no session), keeping its other settings."""

    def send_command(
        self,
        *,
        device: Device,
        body: CommandBody,
        session_id: UUID | None,
        requested_by: UUID | None,
        ttl: timedelta,
    ) -> Command:
        """Record a one-shot command and publish it; the returned row's ``state`` is
        ``sent`` when the broker took it, ``failed`` (with ``reason``) otherwise."""
