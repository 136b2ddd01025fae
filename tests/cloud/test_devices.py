"""Registering a box: credentials stored hashed, an agent config that loads, a scoped S3 key."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from peewee import Database
from typer.testing import CliRunner

from agent.config import load_agent_config
from cloud.devices.registry import create_device, s3_identity
from cloud.errors import InvalidInput
from cloud.models import Device
from sideline.cli import app
from sideline.services.seaweed import SeaweedS3
from tests.cloud.factories import make_org
from tests.fixtures.services import S3_BUCKET

runner = CliRunner()


def _mosquitto_hash_matches(hashed: str, password: str) -> bool:
    _, alg, iterations, salt, digest = hashed.split("$")
    computed = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt), int(iterations), 64
    )
    return alg == "7" and computed == base64.b64decode(digest)


def test_device_add_prints_an_agent_config_that_loads(tmp_path: Path, sqlite_db: Database) -> None:
    make_org("riverside-fc")
    url = f"sqlite:///{sqlite_db.database}"
    result = runner.invoke(
        app,
        [
            "cloud", "device", "add", "--org", "riverside-fc", "--name", 'North "pitch"',
            "--id", "field-north", "--database-url", url, "--mqtt-host", "mqtt.example.com",
            "--mqtt-port", "8883", "--mqtt-tls", "--s3-endpoint", "https://s3.example.com",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    toml = result.stdout
    config_file = tmp_path / "agent.toml"
    config_file.write_text(toml)
    loaded = load_agent_config(config_file)
    assert (loaded.device.org, loaded.device.id, loaded.device.name) == (
        "riverside-fc",
        "field-north",
        'North "pitch"',
    )
    assert (loaded.mqtt.host, loaded.mqtt.port, loaded.mqtt.tls) == ("mqtt.example.com", 8883, True)
    assert loaded.mqtt.username == "field-north"
    password = loaded.mqtt.password.get_secret_value()  # type: ignore[union-attr]
    device = Device.get_by_id("field-north")
    assert password not in device.mqtt_password_hash
    assert _mosquitto_hash_matches(device.mqtt_password_hash, password)
    secret = loaded.s3.secret_access_key.get_secret_value()  # type: ignore[union-attr]
    assert device.s3_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert loaded.s3.access_key_id == device.s3_access_key_id
    assert '"Write:sideline-clips/riverside-fc/field-north/*"' in result.stderr


def test_device_add_explains_what_is_wrong(sqlite_db: Database) -> None:
    url = f"sqlite:///{sqlite_db.database}"
    missing = runner.invoke(
        app, ["cloud", "device", "add", "--org", "nobody", "--name", "x", "--database-url", url]
    )
    assert missing.exit_code == 2
    assert "organisation 'nobody' does not exist" in missing.output
    make_org("club")
    create_device("club", "Box", device_id="taken")
    taken = runner.invoke(
        app,
        ["cloud", "device", "add", "--org", "club", "--name", "x", "--id", "taken",
         "--database-url", url],
    )  # fmt: skip
    assert taken.exit_code == 2
    assert "'taken' is taken" in taken.output
    with pytest.raises(InvalidInput, match="invalid device id"):
        create_device("club", "Box", device_id="a/b")


def test_a_devices_s3_key_reaches_only_its_prefix(
    tmp_path: Path, sqlite_db: Database, seaweed: SeaweedS3
) -> None:
    make_org("org-s3")
    result = runner.invoke(
        app,
        ["cloud", "device", "add", "--org", "org-s3", "--name", "Mine", "--id", "s3-mine",
         "--database-url", f"sqlite:///{sqlite_db.database}",
         "--seaweed-master", seaweed.master_address, "--out", str(tmp_path / "agent.toml")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"live on SeaweedFS {seaweed.master_address}" in result.output
    mine = load_agent_config(tmp_path / "agent.toml").s3
    theirs = create_device("org-s3", "Theirs", device_id="s3-theirs")
    seaweed.add_identity(s3_identity(theirs, S3_BUCKET))
    key, secret = mine.access_key_id, mine.secret_access_key.get_secret_value()  # type: ignore[union-attr]
    client = seaweed.client(key, secret)
    deadline = time.monotonic() + 10  # SeaweedFS learns a new key within a moment
    while time.monotonic() < deadline:
        try:
            client.list_objects_v2(Bucket="no-such-bucket", MaxKeys=1)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
                break  # the key is known; the request failed for another reason
        time.sleep(0.1)
    client.put_object(Bucket=S3_BUCKET, Key="org-s3/s3-mine/clip.mp4", Body=b"mine")
    assert (
        client.get_object(Bucket=S3_BUCKET, Key="org-s3/s3-mine/clip.mp4")["Body"].read() == b"mine"
    )
    seaweed.client().put_object(Bucket=S3_BUCKET, Key="org-s3/s3-theirs/clip.mp4", Body=b"theirs")
    for attempt in (
        lambda: client.put_object(Bucket=S3_BUCKET, Key="org-s3/s3-theirs/evil.mp4", Body=b"x"),
        lambda: client.get_object(Bucket=S3_BUCKET, Key="org-s3/s3-theirs/clip.mp4"),
        lambda: client.put_object(Bucket=S3_BUCKET, Key="elsewhere.mp4", Body=b"x"),
    ):
        with pytest.raises(ClientError, match="AccessDenied"):
            attempt()
