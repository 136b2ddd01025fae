"""The fixed value sets of the data model (stored as text with a CHECK constraint).

Lifecycles and their mapping onto the two specifications are documented in
``docs/data-model.md``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ROLE_RANK",
    "AttendanceStatus",
    "BookingStatus",
    "BusyKind",
    "ClipStatus",
    "CommandState",
    "LogOrigin",
    "OutboxStatus",
    "OverrideKind",
    "ParticipantStatus",
    "Role",
    "SessionStatus",
    "SessionType",
    "TeamRole",
]


class Role(StrEnum):
    """A user's role in an organisation."""

    OWNER = "owner"
    ADMIN = "admin"
    COACH = "coach"  # teams spec (003)
    HOST = "host"  # live-sessions spec (000); same powers as a coach
    MEMBER = "member"
    GUEST = "guest"


ROLE_RANK: dict[Role, int] = {
    Role.OWNER: 50,
    Role.ADMIN: 40,
    Role.COACH: 30,
    Role.HOST: 30,
    Role.MEMBER: 20,
    Role.GUEST: 10,
}
"""Higher may do what lower may; equal ranks are the two specs' names for one role."""


class TeamRole(StrEnum):
    """A person's place on a team's roster (what a form's ``player`` field picks from)."""

    PLAYER = "player"
    COACH = "coach"
    STAFF = "staff"


class SessionType(StrEnum):
    PRACTICE = "practice"  # teams (003)
    GAME = "game"
    TRAINING = "training"
    LIVE_CLASS = "live_class"  # live sessions (000)
    WEBINAR = "webinar"
    WORKSHOP = "workshop"
    OFFICE_HOURS = "office_hours"


class SessionStatus(StrEnum):
    """One lifecycle for both specs: 003's Draft/InProgress/Completed, 000's four."""

    DRAFT = "draft"  # 003 Draft: created, not yet scheduled or started
    SCHEDULED = "scheduled"  # 000 scheduled
    LIVE = "live"  # 000 live, 003 InProgress
    ENDED = "ended"  # 000 ended, 003 Completed
    CANCELLED = "cancelled"  # 000 cancelled


class ParticipantStatus(StrEnum):
    REGISTERED = "registered"
    CANCELLED = "cancelled"


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    LATE = "late"
    EXCUSED = "excused"


class LogOrigin(StrEnum):
    DEVICE = "device"  # via MQTT ingest; ``source`` is the device's LogSource
    API = "api"  # the coach's logger; validated against the session's form version


class ClipStatus(StrEnum):
    """A clip is visible only when ``ready``: its object was found and matched."""

    PENDING = "pending"  # record stored; object not verified yet (retried with backoff)
    READY = "ready"  # object exists with the recorded size and SHA-256
    FAILED = "failed"  # object missing or different after retries; ``failure_reason`` says


class ShareKind(StrEnum):
    CLIP = "clip"
    PLAYLIST = "playlist"


class CommandState(StrEnum):
    """A one-shot command's progress; only moves forward."""

    PENDING = "pending"  # recorded, not yet handed to the broker
    SENT = "sent"  # the broker took it (PUBACK)
    ACKNOWLEDGED = "acknowledged"  # the device accepted it and is working on it
    DONE = "done"  # the device finished it; ``result`` says what came of it
    REFUSED = "refused"  # the device would not (expired, unknown camera, ...)
    FAILED = "failed"  # publishing or carrying it out failed; ``reason`` says
    EXPIRED = "expired"  # no answer from the device before ``expires_at``


class BusyKind(StrEnum):
    """What holds a host's time (a ``host_busy`` row)."""

    SESSION = "session"  # a session they host
    BOOKING = "booking"  # a meeting booked with them (with the slot's buffers)


class BookingStatus(StrEnum):
    """A meeting booking (spec 000's MeetingBooking)."""

    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"  # by the guest, the host or a coach; also the old side of a reschedule
    COMPLETED = "completed"  # took place (only after its start)
    NO_SHOW = "no_show"  # the guest did not come (only after its start)


class OverrideKind(StrEnum):
    """A date override of a host's availability."""

    BLACKOUT = "blackout"  # no bookings that day (or between start_time and end_time)
    EXTRA = "extra"  # extra hours that day, with a slot's duration, buffers and price


class OutboxStatus(StrEnum):
    """A side effect's progress (``cloud.outbox``)."""

    PENDING = "pending"  # to be tried (again) at next_attempt_at
    DELIVERED = "delivered"  # the receiver took it
    FAILED = "failed"  # still failing when its retries ran out: kept, replayable
    DROPPED = "dropped"  # can never be delivered (its target was deleted)
