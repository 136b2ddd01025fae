"""Sessions: one entity carrying both specs (teams' 003 and live sessions' 000).

Field mapping and lifecycle rules are in ``docs/data-model.md``.
"""

from __future__ import annotations

from uuid import UUID

from peewee import (
    BooleanField,
    CharField,
    Check,
    ForeignKeyField,
    IntegerField,
    TextField,
    UUIDField,
)

from cloud.models.accounts import Organisation, Team, User
from cloud.models.base import (
    SEGMENT_LENGTH,
    BaseModel,
    StrEnumField,
    UtcDateTimeField,
    new_uuid_pk,
    utc_now,
)
from cloud.models.devices import Device
from cloud.models.enums import AttendanceStatus, ParticipantStatus, SessionStatus, SessionType
from cloud.models.forms import FormTemplate, FormVersion

__all__ = [
    "AttendanceInterval",
    "Session",
    "SessionDevice",
    "SessionParticipant",
    "SessionTransition",
]


class Session(BaseModel):
    id = new_uuid_pk()
    org = ForeignKeyField(Organisation, backref="sessions", on_delete="CASCADE", index=False)
    org_id: UUID
    team = ForeignKeyField(Team, null=True, backref="sessions", on_delete="SET NULL", index=False)
    team_id: UUID | None
    host = ForeignKeyField(
        User, null=True, backref="hosted_sessions", on_delete="SET NULL", index=False
    )
    host_id: UUID | None
    title = TextField()  # 000 "title", 003 "name"
    description = TextField(null=True)
    type = StrEnumField(SessionType, default=SessionType.PRACTICE)
    status = StrEnumField(SessionStatus, default=SessionStatus.DRAFT)
    scheduled_at = UtcDateTimeField(null=True)
    duration_minutes = IntegerField(null=True, constraints=[Check("duration_minutes > 0")])
    timezone = CharField(max_length=64, default="UTC")  # IANA name, for display and recurrence
    started_at = UtcDateTimeField(null=True)
    ended_at = UtcDateTimeField(null=True)
    meeting_url = TextField(null=True)
    meeting_provider = CharField(max_length=64, null=True)
    max_participants = IntegerField(null=True, constraints=[Check("max_participants > 0")])
    # Kept in step with registrations by a conditional UPDATE; the CHECK is the
    # last line of defence against overbooking under concurrency.
    participant_count = IntegerField(
        default=0,
        constraints=[
            Check(
                "participant_count >= 0 AND "
                "(max_participants IS NULL OR participant_count <= max_participants)"
            )
        ],
    )
    is_free = BooleanField(default=True)
    price_minor = IntegerField(null=True, constraints=[Check("price_minor >= 0")])  # cents
    currency = CharField(max_length=3, null=True)  # ISO 4217, upper case
    form_template = ForeignKeyField(FormTemplate, null=True, on_delete="SET NULL")
    form_template_id: UUID | None
    form_version = ForeignKeyField(FormVersion, null=True, on_delete="SET NULL")
    form_version_id: UUID | None
    # The series (``session_series.id``) an occurrence belongs to; no database
    # reference, so that a series' rows can be rebuilt without touching sessions.
    recurrence_id = UUIDField(null=True, index=False)
    # The instant the series' rule gave this occurrence (iCalendar's RECURRENCE-ID);
    # kept when the occurrence is moved, so a re-expanded rule finds it.
    occurrence_at = UtcDateTimeField(null=True)
    occurrence_edited = BooleanField(default=False)  # changed on its own: series edits skip it
    auto_start = BooleanField(default=False)  # go live at scheduled_at, end after the duration
    late_grace_minutes = IntegerField(null=True, constraints=[Check("late_grace_minutes >= 0")])
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_by_id: UUID | None
    created_at = UtcDateTimeField(default=utc_now)
    updated_at = UtcDateTimeField(default=utc_now)
    cancelled_at = UtcDateTimeField(null=True)
    cancel_reason = TextField(null=True)
    deleted_at = UtcDateTimeField(null=True)
    # Logs become clips: while live, its devices record continuously (desired state).
    tagging = BooleanField(default=False)

    class Meta:
        indexes = (
            (("org", "scheduled_at", "id"), False),
            (("org", "status", "scheduled_at"), False),
            (("org", "created_at", "id"), False),
            (("team", "scheduled_at"), False),
            (("host", "scheduled_at"), False),
            (("recurrence_id", "occurrence_at"), True),
            (("status", "auto_start", "scheduled_at"), False),
        )
        constraints = [
            Check("is_free OR (price_minor IS NOT NULL AND currency IS NOT NULL)"),
            Check("ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at"),
        ]


class SessionDevice(BaseModel):
    """A device (and optionally one of its cameras) that records a session.

    ``camera_id`` empty means every camera of the device.
    """

    id = new_uuid_pk()
    session = ForeignKeyField(Session, backref="devices", on_delete="CASCADE", index=False)
    session_id: UUID
    device = ForeignKeyField(Device, backref="sessions", on_delete="CASCADE", index=False)
    device_id: str
    camera_id = CharField(max_length=SEGMENT_LENGTH, null=True)
    created_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("session", "device", "camera_id"), True),)


# NULLs are distinct in a unique index: one "every camera" row per session and device.
SessionDevice.add_index(
    SessionDevice.index(SessionDevice.session, SessionDevice.device, unique=True).where(
        SessionDevice.camera_id.is_null()
    )
)
SessionDevice.add_index(SessionDevice.index(SessionDevice.device, SessionDevice.session))


class SessionParticipant(BaseModel):
    """A registration (user or guest) and, once the session ran, its attendance."""

    id = new_uuid_pk()
    session = ForeignKeyField(Session, backref="participants", on_delete="CASCADE", index=False)
    session_id: UUID
    user = ForeignKeyField(User, null=True, backref="registrations", on_delete="CASCADE")
    user_id: UUID | None
    guest_name = TextField(null=True)
    guest_email = CharField(max_length=254, null=True)
    status = StrEnumField(ParticipantStatus, default=ParticipantStatus.REGISTERED)
    registered_at = UtcDateTimeField(default=utc_now)
    cancelled_at = UtcDateTimeField(null=True)
    attendance = StrEnumField(AttendanceStatus, null=True)
    # True while ``attendance`` is what the join times say (present or late);
    # a coach's own choice (absent, excused, or any status set by hand) is kept.
    attendance_auto = BooleanField(default=False)
    joined_at = UtcDateTimeField(null=True)  # the first join (of the merged intervals)
    left_at = UtcDateTimeField(null=True)  # the last leave; empty while still there
    duration_seconds = IntegerField(null=True, constraints=[Check("duration_seconds >= 0")])
    # What this seat cost when it was taken (a paid session), for exact revenue.
    price_minor = IntegerField(null=True, constraints=[Check("price_minor >= 0")])
    currency = CharField(max_length=3, null=True)

    class Meta:
        indexes = (
            (("session", "user"), True),
            (("session", "status", "registered_at"), False),
        )
        constraints = [Check("user_id IS NOT NULL OR guest_name IS NOT NULL")]


# A guest is known by their email: one active registration per email and session,
# so a double tap or a second form submission cannot take two seats.
SessionParticipant.add_index(
    SessionParticipant.index(
        SessionParticipant.session,
        SessionParticipant.guest_email,
        unique=True,
        where=(
            SessionParticipant.user.is_null()
            & SessionParticipant.guest_email.is_null(False)
            & (SessionParticipant.status == ParticipantStatus.REGISTERED)
        ),
    )
)


class SessionTransition(BaseModel):
    """Each lifecycle change (created, started, ended, …): a timeline item."""

    id = new_uuid_pk()
    session = ForeignKeyField(Session, backref="transitions", on_delete="CASCADE", index=False)
    session_id: UUID
    from_status = StrEnumField(SessionStatus, null=True)  # empty: created
    to_status = StrEnumField(SessionStatus)
    occurred_at = UtcDateTimeField(default=utc_now)
    by_user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    by_user_id: UUID | None
    reason = TextField(null=True)

    class Meta:
        indexes = ((("session", "occurred_at", "id"), False),)


class AttendanceInterval(BaseModel):
    """One stretch of a participant's presence: joined, and left (empty: still there).

    A participant's ``joined_at``, ``left_at`` and ``duration_seconds`` are these
    merged (``cloud.scheduling.attendance``)."""

    id = new_uuid_pk()
    participant = ForeignKeyField(
        SessionParticipant, backref="intervals", on_delete="CASCADE", index=False
    )
    participant_id: UUID
    joined_at = UtcDateTimeField()
    left_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField(default=utc_now)

    class Meta:
        indexes = ((("participant", "joined_at"), False),)
        constraints = [Check("left_at IS NULL OR left_at >= joined_at")]
