"""Registering boxes: a device row, its MQTT and S3 credentials, its agent config.

Secrets are generated here, shown once (in the returned
:class:`DeviceCredentials` and the printed agent config) and stored only hashed:
the MQTT password as Mosquitto's ``$7$`` hash (what the broker's password file
needs), the S3 secret as a SHA-256 (the object store keeps its own copy in the
identity it was given; see :func:`s3_identity`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from peewee import IntegrityError

from cloud.db import write_transaction
from cloud.errors import Conflict, InvalidInput, NotFound
from cloud.models import Device, Organisation, utc_now
from core.credentials import S3Identity, hash_password
from protocol import is_valid_segment

__all__ = [
    "DeviceCredentials",
    "create_device",
    "retire_device",
    "rotate_credentials",
    "s3_identity",
]


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    org: str
    name: str
    mqtt_username: str
    mqtt_password: str
    s3_access_key_id: str
    s3_secret_access_key: str

    @property
    def s3_prefix(self) -> str:
        return f"{self.org}/{self.device_id}/"


def _suggest_id(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48] or "box"
    return f"{base}-{secrets.token_hex(3)}"


def _new_secrets(device_id: str, org: str, name: str) -> DeviceCredentials:
    return DeviceCredentials(
        device_id=device_id,
        org=org,
        name=name,
        mqtt_username=device_id,
        mqtt_password=secrets.token_urlsafe(24),
        s3_access_key_id="SL" + secrets.token_hex(9).upper(),
        s3_secret_access_key=secrets.token_urlsafe(30),
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def create_device(org_slug: str, name: str, *, device_id: str | None = None) -> DeviceCredentials:
    """Register a device in ``org_slug``; returns its (only) copy of the secrets."""
    org = Organisation.get_or_none(Organisation.slug == org_slug)
    if org is None:
        raise NotFound(
            "organisation",
            org_slug,
            message=f"organisation {org_slug!r} does not exist; create it first "
            f"(sideline cloud org add --slug {org_slug} --name …)",
        )
    device_id = device_id or _suggest_id(name)
    if not is_valid_segment(device_id):
        raise InvalidInput(
            f"invalid device id {device_id!r}: 1-64 of A-Z a-z 0-9 _ . - starting with a letter "
            "or digit (it is an MQTT topic level and an S3 key part)",
            code="invalid_device_id",
        )
    credentials = _new_secrets(device_id, org.slug, name)
    try:
        with write_transaction():
            Device.create(
                id=device_id,
                org=org,
                name=name,
                mqtt_password_hash=hash_password(credentials.mqtt_password),
                s3_access_key_id=credentials.s3_access_key_id,
                s3_secret_hash=_sha256(credentials.s3_secret_access_key),
            )
    except IntegrityError:
        raise Conflict(
            f"device id {device_id!r} is taken (ids are unique across organisations); "
            "choose another with --id",
            code="device_id_taken",
        ) from None
    return credentials


def rotate_credentials(device_id: str) -> DeviceCredentials:
    """New MQTT and S3 secrets for a device (e.g. a box was lost or re-imaged)."""
    device = Device.get_or_none(Device.id == device_id)
    if device is None:
        raise NotFound("device", device_id, message=f"device {device_id!r} does not exist")
    credentials = _new_secrets(device.id, device.org.slug, device.name)
    Device.update(
        mqtt_password_hash=hash_password(credentials.mqtt_password),
        s3_access_key_id=credentials.s3_access_key_id,
        s3_secret_hash=_sha256(credentials.s3_secret_access_key),
        credentials_rotated_at=utc_now(),
    ).where(Device.id == device_id).execute()
    return credentials


def retire_device(device_id: str) -> None:
    """The device's messages are refused from now on, and it leaves the password file."""
    updated = (
        Device.update(retired_at=utc_now())
        .where((Device.id == device_id) & Device.retired_at.is_null())
        .execute()
    )
    if not updated:
        raise NotFound(
            "device",
            device_id,
            message=f"device {device_id!r} does not exist or is already retired",
        )


def s3_identity(credentials: DeviceCredentials, bucket: str) -> S3Identity:
    """The object-store identity that confines the device's key to its own prefix
    (SeaweedFS action syntax; on AWS the same rule is an IAM policy on the prefix)."""
    scope = f"{bucket}/{credentials.s3_prefix}*"
    return S3Identity(
        name=f"device-{credentials.device_id}",
        access_key=credentials.s3_access_key_id,
        secret_key=credentials.s3_secret_access_key,
        actions=[f"Write:{scope}", f"Read:{scope}", f"List:{scope}"],
    )
