"""The cloud data model, shared by the ingest and the API (see docs/data-model.md).

No database is bound at import: :func:`cloud.db.open_database` binds them all.
"""

from cloud.models.accounts import ApiToken, Membership, Organisation, Team, TeamMember, User
from cloud.models.base import BaseModel, StrEnumField, UtcDateTimeField, utc_now
from cloud.models.control import Command, CommandAckRecord, DesiredStateRecord
from cloud.models.deadletters import DeadLetter, IngestAttempt
from cloud.models.devices import Camera, Device, DeviceStatus, HeartbeatSample
from cloud.models.enums import (
    ROLE_RANK,
    AttendanceStatus,
    BookingStatus,
    BusyKind,
    ClipStatus,
    CommandState,
    LogOrigin,
    OverrideKind,
    ParticipantStatus,
    Role,
    SessionStatus,
    SessionType,
    TeamRole,
)
from cloud.models.forms import FormTemplate, FormVersion
from cloud.models.records import Clip, DetectionEventRecord, Log
from cloud.models.scheduling import (
    AvailabilityOverride,
    Booking,
    HostBusy,
    HostSchedule,
    MeetingSlot,
    SessionSeries,
)
from cloud.models.sessions import (
    AttendanceInterval,
    Session,
    SessionDevice,
    SessionParticipant,
    SessionTransition,
)

__all__ = [
    "ALL_MODELS",
    "ROLE_RANK",
    "ApiToken",
    "AttendanceInterval",
    "AttendanceStatus",
    "AvailabilityOverride",
    "BaseModel",
    "Booking",
    "BookingStatus",
    "BusyKind",
    "Camera",
    "Clip",
    "ClipStatus",
    "Command",
    "CommandAckRecord",
    "CommandState",
    "DeadLetter",
    "DesiredStateRecord",
    "DetectionEventRecord",
    "Device",
    "DeviceStatus",
    "FormTemplate",
    "FormVersion",
    "HeartbeatSample",
    "HostBusy",
    "HostSchedule",
    "IngestAttempt",
    "Log",
    "LogOrigin",
    "MeetingSlot",
    "Membership",
    "Organisation",
    "OverrideKind",
    "ParticipantStatus",
    "Role",
    "Session",
    "SessionDevice",
    "SessionParticipant",
    "SessionSeries",
    "SessionStatus",
    "SessionTransition",
    "SessionType",
    "StrEnumField",
    "Team",
    "TeamMember",
    "TeamRole",
    "User",
    "UtcDateTimeField",
    "utc_now",
]

ALL_MODELS: list[type[BaseModel]] = [
    Organisation,
    Team,
    User,
    Membership,
    TeamMember,
    ApiToken,
    Device,
    Camera,
    DeviceStatus,
    HeartbeatSample,
    FormTemplate,
    FormVersion,
    Session,
    SessionDevice,
    SessionParticipant,
    SessionTransition,
    AttendanceInterval,
    DesiredStateRecord,
    Command,
    CommandAckRecord,
    Log,
    Clip,
    DetectionEventRecord,
    DeadLetter,
    SessionSeries,
    MeetingSlot,
    AvailabilityOverride,
    HostSchedule,
    Booking,
    HostBusy,
    IngestAttempt,
]
"""Every table, in an order where each comes after the tables it references."""
