"""Sessions (both specs in one entity), their devices, participants and attendance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import Field, StringConstraints, field_validator, model_validator

from cloud.api.schemas.common import Input, Output, PageInfo
from cloud.models import AttendanceStatus, ParticipantStatus, SessionStatus, SessionType
from protocol.ids import Segment
from protocol.times import UtcDateTime

__all__ = [
    "AttendanceReport",
    "DeviceSync",
    "IntervalPublic",
    "ParticipantCreate",
    "ParticipantPublic",
    "ParticipantUpdate",
    "ParticipantsPublic",
    "SessionCancel",
    "SessionCreate",
    "SessionDeviceRef",
    "SessionPublic",
    "SessionTransitionResult",
    "SessionUpdate",
    "SessionsPublic",
]

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
_ZONES = frozenset(available_timezones())


class SessionDeviceRef(Input):
    """A device that records the session; ``camera_id`` empty: every camera."""

    device_id: Segment
    camera_id: Segment | None = None


class SessionBase(Input):
    title: str = Field(min_length=1, max_length=200, description="003 'name', 000 'title'.")
    description: str | None = Field(default=None, max_length=10_000)
    type: SessionType = SessionType.PRACTICE
    team_id: UUID | None = None
    host_id: UUID | None = Field(default=None, description="A coach/host (or above) of the org.")
    scheduled_at: UtcDateTime | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=7 * 24 * 60)
    timezone: str = Field(default="UTC", description="IANA zone, for display and recurrence.")
    meeting_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    meeting_provider: str | None = Field(default=None, max_length=64)
    max_participants: int | None = Field(default=None, gt=0, le=100_000)
    is_free: bool = True
    price_minor: int | None = Field(default=None, ge=0, description="Price in minor units (cents).")
    currency: Currency | None = Field(default=None, description="ISO 4217, e.g. 'EUR'.")
    form_template_id: UUID | None = None
    tagging: bool | None = Field(
        default=None,
        description="Logs become clips, and the devices record continuously while it is "
        "live (so a log can ask for seconds the pre-roll no longer holds). Empty: on when "
        "the form has clip settings.",
    )
    devices: list[SessionDeviceRef] = Field(default_factory=list, max_length=32)
    auto_start: bool = Field(
        default=False,
        description="Go live at scheduled_at and end after duration_minutes, by itself "
        "(needs both); the devices then record it.",
    )
    late_grace_minutes: int | None = Field(
        default=None,
        ge=0,
        le=24 * 60,
        description="Arriving later than this is 'late' (default 5).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _ZONES:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Paris'")
        return value

    @model_validator(mode="after")
    def _priced(self) -> SessionBase:
        if not self.is_free and (self.price_minor is None or self.currency is None):
            raise ValueError("a paid session (is_free=false) needs price_minor and currency")
        if self.auto_start and (self.scheduled_at is None or self.duration_minutes is None):
            raise ValueError("auto_start needs scheduled_at and duration_minutes")
        return self


class SessionCreate(SessionBase):
    status: SessionStatus | None = Field(
        default=None,
        description="draft or scheduled; empty: scheduled when scheduled_at is given, else draft.",
    )


class SessionUpdate(Input):
    """Only the fields given change. Schedule, capacity, price, form and devices can
    change only before the session goes live; title and description always."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    type: SessionType | None = None
    team_id: UUID | None = None
    host_id: UUID | None = None
    scheduled_at: UtcDateTime | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=7 * 24 * 60)
    timezone: str | None = None
    meeting_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    meeting_provider: str | None = Field(default=None, max_length=64)
    max_participants: int | None = Field(default=None, gt=0, le=100_000)
    is_free: bool | None = None
    price_minor: int | None = Field(default=None, ge=0)
    currency: Currency | None = None
    form_template_id: UUID | None = None
    tagging: bool | None = None
    devices: list[SessionDeviceRef] | None = Field(default=None, max_length=32)
    auto_start: bool | None = None
    late_grace_minutes: int | None = Field(default=None, ge=0, le=24 * 60)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in _ZONES:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Paris'")
        return value


class SessionDevicePublic(Output):
    device_id: str
    camera_id: str | None


class SessionPublic(Output):
    id: UUID
    title: str
    description: str | None
    type: SessionType
    status: SessionStatus
    team_id: UUID | None
    host_id: UUID | None
    scheduled_at: datetime | None
    duration_minutes: int | None
    timezone: str
    started_at: datetime | None
    ended_at: datetime | None
    meeting_url: str | None
    meeting_provider: str | None
    max_participants: int | None
    participant_count: int
    is_free: bool
    price_minor: int | None
    currency: str | None
    form_template_id: UUID | None
    form_version: int | None = Field(description="The form version logs are validated against.")
    recurrence_id: UUID | None = Field(description="The series this is an occurrence of.")
    occurrence_at: datetime | None = Field(
        description="The instant the series' rule gave this occurrence (iCalendar RECURRENCE-ID)."
    )
    occurrence_edited: bool = Field(description="Changed on its own; series edits leave it alone.")
    auto_start: bool
    late_grace_minutes: int | None
    tagging: bool = Field(description="Logs become clips; devices record while it is live.")
    devices: list[SessionDevicePublic]
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str | None


class SessionsPublic(PageInfo):
    data: list[SessionPublic]


class SessionCancel(Input):
    reason: str | None = Field(default=None, max_length=2000)


class DeviceSync(Output):
    """Whether a device was told about the session's new state."""

    device_id: str
    revision: int = Field(description="The device's desired-state revision now.")
    published: bool = Field(description="The broker took the retained message.")
    error: str | None = None


class SessionTransitionResult(Output):
    session: SessionPublic
    devices: list[DeviceSync] = Field(
        description="Desired-state changes sent to the session's devices (start, end, cancel)."
    )


# --- participants ------------------------------------------------------------


class ParticipantCreate(Input):
    """Empty body: register yourself. Coaches and hosts may register a member
    (``user_id``) or a guest by name (and email)."""

    user_id: UUID | None = None
    guest_name: str | None = Field(default=None, min_length=1, max_length=200)
    guest_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")

    @model_validator(mode="after")
    def _one_person(self) -> ParticipantCreate:
        if self.user_id is not None and self.guest_name is not None:
            raise ValueError("give user_id or guest_name, not both")
        if self.guest_email is not None and self.guest_name is None:
            raise ValueError("a guest_email needs a guest_name")
        return self


class ParticipantUpdate(Input):
    """Set by hand: ``attendance`` (kept as given; empty: follow the join times), and
    one join/leave interval replacing any recorded (``…/intervals`` adds more)."""

    attendance: AttendanceStatus | None = None
    joined_at: UtcDateTime | None = None
    left_at: UtcDateTime | None = None


class IntervalPublic(Output):
    joined_at: datetime
    left_at: datetime | None = Field(description="Empty: still there.")


class ParticipantPublic(Output):
    id: UUID
    session_id: UUID
    user_id: UUID | None
    guest_name: str | None
    guest_email: str | None
    status: ParticipantStatus
    registered_at: datetime
    cancelled_at: datetime | None
    attendance: AttendanceStatus | None
    attendance_auto: bool = Field(
        default=False, description="The status follows the join times (present or late)."
    )
    joined_at: datetime | None = Field(description="The first join.")
    left_at: datetime | None = Field(description="The last leave; empty while still there.")
    duration_seconds: int | None = Field(description="Merged join/leave intervals, closed ones.")
    intervals: list[IntervalPublic] = Field(default_factory=list)
    price_minor: int | None = Field(default=None, description="What the seat cost.")
    currency: str | None = None


class ParticipantsPublic(Output):
    data: list[ParticipantPublic]
    count: int


class AttendanceReport(Output):
    """Spec 000's AttendanceReport for one session."""

    session_id: UUID
    total_expected: int = Field(description="Registrations not cancelled.")
    total_present: int
    total_absent: int
    total_late: int
    total_excused: int
    total_unmarked: int
    records: list[ParticipantPublic]
