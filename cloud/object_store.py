"""The clip bucket, as the cloud sees it: look an object up, hash it, sign a URL for it.

Two seams, one per use: :class:`ObjectStore` (the ingest's clip verifier: head
and hash) with :class:`S3ObjectStore` (boto3; AWS S3, MinIO, SeaweedFS), and
:class:`ClipUrlSigner` (the API's playback links) with :class:`SigV4UrlSigner`,
the one way the cloud presigns.

An object's SHA-256 is taken, in order of preference, from its user metadata
``sha256`` (lower-case hex, what the agent sets on upload), from S3's own
full-object ``ChecksumSHA256``, or by downloading and hashing it.

Presigned URLs: the API never proxies video. It signs a GET URL (AWS Signature
Version 4, query-string form) that the object store checks; the URL stops
working after ``expires_in`` seconds. Not ``boto3``'s ``generate_presigned_url``
per URL: it costs about 1 ms per call here (botocore builds and runs a whole
request pipeline for it), and a timeline page of 100 clips needs 200 URLs.
:class:`SigV4UrlSigner` computes the same signature directly with a signing key
cached per day: about 20 µs. A test checks it against botocore's own
``S3SigV4QueryAuth`` for identical inputs, and another fetches real objects from
SeaweedFS with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlsplit

from cloud.config import CloudS3Config
from cloud.errors import CloudError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ClipUrlSigner",
    "ObjectStore",
    "ObjectStoreUnavailable",
    "S3Credentials",
    "S3ObjectStore",
    "SigV4UrlSigner",
    "SignedUrl",
    "StoredObject",
    "signer_from_config",
]

log = logging.getLogger(__name__)

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class ObjectStoreUnavailable(CloudError, RuntimeError):
    """The store did not answer (network, 5xx, credentials): try again later."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    sha256: str | None  # lower-case hex, when the store knows it without a download


class ObjectStore(Protocol):
    def head(self, key: str) -> StoredObject | None:
        """The object's size and known checksum; None when it does not exist."""

    def sha256_of(self, key: str) -> str:
        """Download the object and hash it (lower-case hex)."""


class S3ObjectStore:
    def __init__(self, config: CloudS3Config, client: S3Client | None = None) -> None:
        self.config = config
        self.bucket = config.bucket
        self._client = client or _client_for(config, config.endpoint_url)

    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise ObjectStoreUnavailable(f"HEAD {self.bucket}/{key}: {exc}") from None
        except BotoCoreError as exc:
            raise ObjectStoreUnavailable(f"HEAD {self.bucket}/{key}: {exc}") from None
        return StoredObject(key, int(answer["ContentLength"]), _known_sha256(answer))

    def sha256_of(self, key: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        digest = hashlib.sha256()
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
            for chunk in body.iter_chunks(1024 * 1024):
                digest.update(chunk)
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreUnavailable(f"GET {self.bucket}/{key}: {exc}") from None
        return digest.hexdigest()


def _known_sha256(answer: object) -> str | None:
    head = answer if isinstance(answer, dict) else {}
    metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    value = metadata.get("sha256")
    if isinstance(value, str) and len(value) == 64:
        return value.lower()
    checksum = head.get("ChecksumSHA256")
    # A multipart upload's checksum is of its parts ("…-N"), not of the object.
    if (
        isinstance(checksum, str)
        and "-" not in checksum
        and head.get("ChecksumType") != "COMPOSITE"
    ):
        try:
            return base64.b64decode(checksum).hex()
        except ValueError:
            return None
    return None


def _client_for(config: CloudS3Config, endpoint_url: str | None) -> S3Client:
    import boto3
    from botocore.config import Config

    secret = config.secret_access_key.get_secret_value() if config.secret_access_key else None
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=secret,
        region_name=config.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: datetime


class ClipUrlSigner(Protocol):
    def sign(
        self, key: str, *, content_type: str | None = None, expires_in: int | None = None
    ) -> SignedUrl | None:
        """A GET URL for ``key`` in the clips bucket; None when signing is not configured."""


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


_UNRESERVED = re.compile(r"^[A-Za-z0-9_.~-]*$")
_UNRESERVED_PATH = re.compile(r"^[A-Za-z0-9_.~/-]*$")


def _encode(value: str, safe: str = "-_.~") -> str:
    # Most keys and values need no escaping; quote() is the slow part of signing.
    pattern = _UNRESERVED_PATH if "/" in safe else _UNRESERVED
    return value if pattern.match(value) else quote(value, safe=safe)


class SigV4UrlSigner:
    """Signs path-style GET URLs: ``{endpoint}/{bucket}/{key}?X-Amz-…``."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        region: str,
        credentials: S3Credentials,
        expires_in: int,
        clock: type[datetime] = datetime,
    ) -> None:
        if not 1 <= expires_in <= 7 * 24 * 3600:
            raise ValueError("expires_in must be 1 s to 7 days (SigV4's limit)")
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"S3 endpoint must be an http(s) URL, got {endpoint_url!r}")
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.netloc
        self._base_path = parts.path.rstrip("/")
        self.bucket = bucket
        self.region = region
        self.credentials = credentials
        self.expires_in = expires_in
        self._clock = clock
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def sign(
        self, key: str, *, content_type: str | None = None, expires_in: int | None = None
    ) -> SignedUrl:
        lifetime = self.expires_in if expires_in is None else max(1, min(expires_in, 7 * 24 * 3600))
        now = self._clock.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        scope = f"{day}/{self.region}/s3/aws4_request"
        params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self.credentials.access_key_id}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(lifetime),
            "X-Amz-SignedHeaders": "host",
        }
        if self.credentials.session_token:
            params["X-Amz-Security-Token"] = self.credentials.session_token
        if content_type:
            params["response-content-type"] = content_type
        query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))
        path = f"{self._base_path}/{_encode(self.bucket)}/{_encode(key, safe='/-_.~')}"
        canonical = f"GET\n{path}\n{query}\nhost:{self._host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        url = f"{self._origin}{path}?{query}&X-Amz-Signature={signature}"
        expires_at = now.replace(microsecond=0) + timedelta(seconds=lifetime)
        return SignedUrl(url=url, expires_at=expires_at)

    def _signing_key(self, day: str) -> bytes:
        with self._lock:
            key = self._keys.get(day)
            if key is None:
                key = ("AWS4" + self.credentials.secret_access_key).encode()
                for part in (day, self.region, "s3", "aws4_request"):
                    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
                self._keys = {day: key}  # one day at a time is all that is ever needed
            return key


class _Unconfigured:
    def sign(
        self, key: str, *, content_type: str | None = None, expires_in: int | None = None
    ) -> None:
        return None


def signer_from_config(config: CloudS3Config) -> ClipUrlSigner:
    """The signer for the configured store; without credentials, URLs are left empty."""
    endpoint = config.public_endpoint_url or config.endpoint_url
    if endpoint is None:
        endpoint = f"https://s3.{config.region}.amazonaws.com"
    credentials = _credentials(config)
    if credentials is None:
        log.warning(
            "no S3 credentials (s3.access_key_id / s3.secret_access_key, or the AWS "
            "environment): clips will be listed without playback URLs"
        )
        return _Unconfigured()
    return SigV4UrlSigner(
        endpoint_url=endpoint,
        bucket=config.bucket,
        region=config.region,
        credentials=credentials,
        expires_in=config.presign_expiry_s,
    )


def _credentials(config: CloudS3Config) -> S3Credentials | None:
    if config.access_key_id and config.secret_access_key:
        return S3Credentials(config.access_key_id, config.secret_access_key.get_secret_value())
    import botocore.session

    found = botocore.session.Session().get_credentials()
    if found is None:
        return None
    frozen = found.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        return None
    return S3Credentials(frozen.access_key, frozen.secret_key, frozen.token)
