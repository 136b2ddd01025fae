"""What an event's ``data`` says about the thing it is about (JSON-ready)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloud.models import Booking, Clip, Session, SessionParticipant

__all__ = ["booking_data", "clip_data", "participant_data", "session_data"]


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


def booking_data(booking: Booking) -> dict[str, Any]:
    return {
        "id": str(booking.id),
        "slot_id": str(booking.slot_id),
        "host_id": str(booking.host_id),
        "guest_id": _id(booking.guest_id),
        "guest_name": booking.guest_name,
        "guest_email": booking.guest_email,
        "start": _time(booking.starts_at),
        "end": _time(booking.ends_at),
        "timezone": booking.timezone,
        "status": str(booking.status),
        "price_minor": booking.price_minor,
        "currency": booking.currency,
        "cancellation_reason": booking.cancellation_reason,
        "rescheduled_from": _id(booking.rescheduled_from_id),
        "rescheduled_to": _id(booking.rescheduled_to_id),
    }


def session_data(session: Session) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "title": session.title,
        "type": str(session.type),
        "status": str(session.status),
        "scheduled_at": _time(session.scheduled_at),
        "duration_minutes": session.duration_minutes,
        "started_at": _time(session.started_at),
        "ended_at": _time(session.ended_at),
        "host_id": _id(session.host_id),
        "team_id": _id(session.team_id),
        "series_id": _id(session.recurrence_id),
        "cancel_reason": session.cancel_reason,
    }


def participant_data(participant: SessionParticipant) -> dict[str, Any]:
    return {
        "id": str(participant.id),
        "session_id": str(participant.session_id),
        "user_id": _id(participant.user_id),
        "guest_name": participant.guest_name,
        "attendance": str(participant.attendance) if participant.attendance else None,
        "joined_at": _time(participant.joined_at),
        "left_at": _time(participant.left_at),
        "duration_seconds": participant.duration_seconds,
    }


def clip_data(clip: Clip) -> dict[str, Any]:
    return {
        "id": str(clip.id),
        "session_id": _id(clip.session_id),
        "device_id": str(clip.device_id),
        "camera_id": clip.camera_id,
        "started_at": _time(clip.started_at),
        "ended_at": _time(clip.ended_at),
        "duration_ms": clip.duration_ms,
        "trigger_source": clip.trigger_source,
    }
