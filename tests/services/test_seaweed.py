"""The test object store is a real SeaweedFS speaking S3, with per-prefix identities."""

from __future__ import annotations

import hashlib
import urllib.request

import pytest
from botocore.exceptions import ClientError

from core.credentials import S3Identity
from sideline.services.seaweed import SeaweedS3
from tests.fixtures.services import S3_BUCKET


def test_put_get_and_presigned_url(seaweed: SeaweedS3) -> None:
    client = seaweed.client()
    body = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 10
    client.put_object(
        Bucket=S3_BUCKET, Key="org1/dev1/x.mp4", Body=body, ChecksumAlgorithm="SHA256"
    )
    got = client.get_object(Bucket=S3_BUCKET, Key="org1/dev1/x.mp4")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": S3_BUCKET, "Key": "org1/dev1/x.mp4"}, ExpiresIn=60
    )
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback
        assert response.read() == body


def test_device_identity_added_at_run_time_is_confined_to_its_prefix(seaweed: SeaweedS3) -> None:
    device = S3Identity(
        "svc-test-dev1",
        "svc-test-dev1-key",
        "svc-test-dev1-secret",
        actions=[f"Write:{S3_BUCKET}/org1/dev1/*", f"Read:{S3_BUCKET}/org1/dev1/*"],
    )
    seaweed.add_identity(device)
    client = seaweed.client(device.access_key, device.secret_key)
    client.put_object(Bucket=S3_BUCKET, Key="org1/dev1/a.mp4", Body=b"ok")
    assert client.get_object(Bucket=S3_BUCKET, Key="org1/dev1/a.mp4")["Body"].read() == b"ok"
    with pytest.raises(ClientError) as denied:
        client.put_object(Bucket=S3_BUCKET, Key="org1/dev2/a.mp4", Body=b"no")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as unknown:
        seaweed.client("no-such-key", "x").list_buckets()
    assert unknown.value.response["Error"]["Code"] == "InvalidAccessKeyId"
