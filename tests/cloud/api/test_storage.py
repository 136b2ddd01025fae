"""Presigned clip URLs: the same signature botocore makes, accepted by a real S3 (SeaweedFS)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cloud.config import CloudS3Config
from cloud.object_store import S3Credentials, SigV4UrlSigner, signer_from_config
from sideline.services.seaweed import SeaweedS3
from tests.fixtures.services import S3_BUCKET

FIXED = datetime(2026, 11, 22, 10, 32, 5, tzinfo=UTC)


class _Frozen(datetime):
    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return FIXED


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize("key", ["org1/dev1/01a2.mp4", "org 1/dev+1/clip (1)~ü.mp4"])
def test_the_signature_is_botocores(
    monkeypatch: pytest.MonkeyPatch, key: str, token: str | None
) -> None:
    endpoint = "http://s3.example:8333"
    signer = SigV4UrlSigner(
        endpoint_url=endpoint,
        bucket="clips",
        region="eu-west-1",
        credentials=S3Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token),
        expires_in=900,
        clock=_Frozen,
    )
    ours = urlsplit(signer.sign(key, content_type="video/mp4").url)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: FIXED.replace(tzinfo=None))
    request = AWSRequest(
        method="GET",
        url=f"{endpoint}/clips/{ours.path.split('/clips/', 1)[1]}",
        params={"response-content-type": "video/mp4"},
    )
    S3SigV4QueryAuth(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token), "s3", "eu-west-1", expires=900
    ).add_auth(request)
    theirs = urlsplit(request.prepare().url)
    assert ours.path == theirs.path
    assert parse_qs(ours.query) == parse_qs(theirs.query)


def test_a_real_store_serves_the_signed_url_and_refuses_a_tampered_or_expired_one(
    seaweed: SeaweedS3,
) -> None:
    key = "alpha/field-north/clip with space.mp4"
    body = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    seaweed.client().put_object(Bucket=S3_BUCKET, Key=key, Body=body, ContentType="video/mp4")
    config = CloudS3Config(
        endpoint_url=seaweed.endpoint_url,
        bucket=S3_BUCKET,
        access_key_id=seaweed.admin.access_key,
        secret_access_key=seaweed.admin.secret_key,
        presign_expiry_s=60,
    )
    signed = signer_from_config(config).sign(key, content_type="video/mp4")
    assert signed is not None
    with urllib.request.urlopen(signed.url, timeout=10) as response:  # loopback
        assert response.read() == body
        assert response.headers["Content-Type"] == "video/mp4"
    tampered = signed.url.replace("clip%20with%20space", "other")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403
    refused.value.close()
    short = SigV4UrlSigner(
        endpoint_url=seaweed.endpoint_url,
        bucket=S3_BUCKET,
        region="us-east-1",
        credentials=S3Credentials(seaweed.admin.access_key, seaweed.admin.secret_key),
        expires_in=1,
    ).sign(key)
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(short.url, timeout=10)
    assert expired.value.code == 403
    expired.value.close()


def test_without_credentials_clips_have_no_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert signer_from_config(CloudS3Config()).sign("a/b.mp4") is None
