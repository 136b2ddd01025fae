"""The clip bucket, as the cloud sees it: look an object up, hash it, presign it.

:class:`ObjectStore` is the narrow seam the clip verifier uses;
:class:`S3ObjectStore` is the real one (boto3; AWS S3, MinIO, SeaweedFS).

An object's SHA-256 is taken, in order of preference, from its user metadata
``sha256`` (lower-case hex, what the agent sets on upload), from S3's own
full-object ``ChecksumSHA256``, or by downloading and hashing it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cloud.config import CloudS3Config
from cloud.errors import CloudError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["ObjectStore", "ObjectStoreUnavailable", "S3ObjectStore", "StoredObject"]

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
        self._public = (
            _client_for(config, config.public_endpoint_url)
            if config.public_endpoint_url
            else self._client
        )

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

    def presign_get(self, key: str, *, expires_s: int | None = None) -> str:
        """A URL a browser can GET for ``expires_s`` (default: the config's)."""
        return self._public.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires_s or self.config.presign_expiry_s,
        )


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
