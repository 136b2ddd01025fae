"""Small builders for cloud rows in tests (valid, minimal, overridable)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from cloud.models import (
    Device,
    Organisation,
    Session,
    SessionDevice,
    SessionStatus,
    SessionType,
    User,
)
from core.credentials import hash_password

_numbers = count(1)


def make_org(slug: str | None = None, **fields: Any) -> Organisation:
    slug = slug or f"org{next(_numbers)}"
    return Organisation.create(slug=slug, name=fields.pop("name", slug.title()), **fields)


def make_user(email: str | None = None, **fields: Any) -> User:
    email = email or f"user{next(_numbers)}@example.com"
    return User.create(email=email, name=fields.pop("name", email.split("@")[0]), **fields)


def make_device(org: Organisation, device_id: str | None = None, **fields: Any) -> Device:
    device_id = device_id or f"dev{next(_numbers)}"
    return Device.create(
        id=device_id,
        org=org,
        name=fields.pop("name", device_id),
        mqtt_password_hash=fields.pop("mqtt_password_hash", hash_password("pw")),
        s3_access_key_id=fields.pop("s3_access_key_id", f"key-{device_id}"),
        s3_secret_hash=fields.pop("s3_secret_hash", "0" * 64),
        **fields,
    )


def make_session(
    org: Organisation,
    *,
    devices: list[Device] = (),  # type: ignore[assignment]
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    **fields: Any,
) -> Session:
    status = SessionStatus.DRAFT
    if started_at is not None:
        status = SessionStatus.ENDED if ended_at is not None else SessionStatus.LIVE
    session = Session.create(
        org=org,
        title=fields.pop("title", f"Practice {next(_numbers)}"),
        type=fields.pop("type", SessionType.PRACTICE),
        status=fields.pop("status", status),
        started_at=started_at,
        ended_at=ended_at,
        **fields,
    )
    for device in devices:
        SessionDevice.create(session=session, device=device)
    return session


def window(start: datetime, minutes: int) -> tuple[datetime, datetime]:
    return start, start + timedelta(minutes=minutes)
