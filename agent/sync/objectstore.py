"""The agent's object store (S3): the seam and its one botocore implementation.

The clip uploader writes through it, and the model installer reads a model
named by the cloud through it (:meth:`S3ObjectStore.open_read`), both with the
device's own prefix-scoped keys.

Every write carries a SHA-256 the server verifies (``ChecksumSHA256``: a
mismatch is ``BadDigest``, nothing is stored), and every object carries the
whole file's SHA-256 in its metadata, so the cloud can check a clip against its
record without reading it. Errors come out as :class:`ObjectStoreError` with a
``kind`` that tells the uploader whether to retry soon, retry late (bad
credentials, missing bucket: a person must act) or give the upload up.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from agent.buffer.uploads import PartRecord
from agent.errors import AgentError
from agent.sync.config import S3Config
from agent.sync.throttle import ThrottledReader, TokenBucket

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ErrorKind",
    "FilePart",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreError",
    "PendingUpload",
    "S3ObjectStore",
    "b64_sha256",
]

log = logging.getLogger(__name__)

SHA256_METADATA = "sha256"


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # network, timeouts, 5xx: retry with backoff
    CONFIG = "config"  # credentials, permissions, missing bucket: retry late, loudly
    NO_UPLOAD = "no_upload"  # the multipart upload is gone: start the file over
    BAD_DIGEST = "bad_digest"  # what we sent does not match its checksum


class ObjectStoreError(AgentError, RuntimeError):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    sha256: str | None  # from our metadata


@dataclass(frozen=True, slots=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: datetime | None


def b64_sha256(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


class FilePart(io.RawIOBase):
    """A read-only, seekable window ``[offset, offset + size)`` of an open file.

    A multipart upload's part is read from the disk as the HTTP client sends it,
    in small reads, instead of being held in memory whole: an 8 MiB part was the
    largest transient in the agent's memory (docs/budget.md).
    """

    CHUNK = 1 << 20

    def __init__(self, handle: BinaryIO, offset: int, size: int) -> None:
        super().__init__()
        self._handle = handle
        self._offset = offset
        self.size = size
        self._position = 0

    @classmethod
    def measure(cls, handle: BinaryIO, offset: int, limit: int, *digests: Any) -> FilePart:
        """The part at ``offset`` of at most ``limit`` bytes, read once to feed ``digests``
        (hashlib objects) and to learn its real size (a file cut short gives a short part)."""
        handle.seek(offset)
        size = 0
        while size < limit and (chunk := handle.read(min(cls.CHUNK, limit - size))):
            for digest in digests:
                digest.update(chunk)
            size += len(chunk)
        return cls(handle, offset, size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        remaining = self.size - self._position
        if size is None or size < 0 or size > remaining:
            size = remaining
        if size <= 0:
            return b""
        self._handle.seek(self._offset + self._position)
        data = self._handle.read(size)
        self._position += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, min(self.size, base + offset))
        return self._position

    def tell(self) -> int:
        return self._position


class ObjectStore(Protocol):
    def head(self, key: str) -> ObjectInfo | None: ...

    def put_file(self, key: str, path: Path, *, sha256: str, content_type: str) -> None: ...

    def create_multipart(self, key: str, *, sha256: str, content_type: str) -> str: ...

    def upload_part(
        self, key: str, upload_id: str, part_number: int, body: FilePart, sha256: str
    ) -> PartRecord: ...

    def list_parts(self, key: str, upload_id: str) -> dict[int, str] | None:
        """Part number -> ETag, or None when the upload no longer exists."""
        ...

    def complete(self, key: str, upload_id: str, parts: list[PartRecord]) -> None: ...

    def abort(self, key: str, upload_id: str) -> None: ...

    def pending_uploads(self, prefix: str) -> list[PendingUpload]: ...


class S3ObjectStore:
    def __init__(
        self,
        config: S3Config,
        *,
        throttle: TokenBucket | None = None,
        on_progress: Callable[[int], None] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        """``cache_dir``: where botocore's data may be kept in a smaller form
        (:mod:`agent.sync.botocore_data`); None: botocore's own."""
        from botocore.config import Config

        from agent.sync.botocore_data import compact_session

        self.bucket = config.bucket
        self._throttle = throttle
        self._on_progress = on_progress
        self._client: S3Client = compact_session(cache_dir).create_client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=(
                config.secret_access_key.get_secret_value() if config.secret_access_key else None
            ),
            config=Config(
                s3={  # type: ignore[arg-type]
                    "addressing_style": config.addressing_style,
                    # The SHA-256 checksum header is signed and verified by the server;
                    # signing the payload too would read every body a second time.
                    "payload_signing_enabled": False,
                },
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=config.timeout_s,
                read_timeout=config.timeout_s,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def open_read(self, key: str) -> tuple[int, BinaryIO]:
        """The object's size and a stream of its bytes (the caller closes it)."""
        response = self._call(f"get {key}", self._client.get_object, Bucket=self.bucket, Key=key)
        body: BinaryIO = response["Body"]
        return int(response.get("ContentLength") or 0), body

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise _classify(exc, f"head {key}") from None
        return ObjectInfo(
            response["ContentLength"], response.get("Metadata", {}).get(SHA256_METADATA)
        )

    def put_file(self, key: str, path: Path, *, sha256: str, content_type: str) -> None:
        with path.open("rb") as handle:
            body = ThrottledReader(handle, self._throttle, self._on_progress)
            self._call(
                f"put {key}",
                self._client.put_object,
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ChecksumSHA256=b64_sha256(sha256),
                Metadata={SHA256_METADATA: sha256},
            )

    def create_multipart(self, key: str, *, sha256: str, content_type: str) -> str:
        response = self._call(
            f"create multipart upload {key}",
            self._client.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            Metadata={SHA256_METADATA: sha256},
        )
        return str(response["UploadId"])

    def upload_part(
        self, key: str, upload_id: str, part_number: int, body: FilePart, sha256: str
    ) -> PartRecord:
        body.seek(0)
        stream = ThrottledReader(body, self._throttle, self._on_progress)  # type: ignore[arg-type]
        checksum = b64_sha256(sha256)
        response = self._call(
            f"upload part {part_number} of {key}",
            self._client.upload_part,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=part_number,
            Body=stream,
            ContentLength=body.size,
            ChecksumSHA256=checksum,
        )
        return PartRecord(part_number, body.size, str(response["ETag"]), checksum)

    def list_parts(self, key: str, upload_id: str) -> dict[int, str] | None:
        parts: dict[int, str] = {}
        marker = 0
        while True:
            try:
                response = self._call(
                    f"list parts of {key}",
                    self._client.list_parts,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                )
            except ObjectStoreError as exc:
                if exc.kind is ErrorKind.NO_UPLOAD:
                    return None
                raise
            for part in response.get("Parts", []):
                parts[int(part["PartNumber"])] = str(part["ETag"])
            if not response.get("IsTruncated"):
                return parts
            marker = int(response["NextPartNumberMarker"])

    def complete(self, key: str, upload_id: str, parts: list[PartRecord]) -> None:
        self._call(
            f"complete {key}",
            self._client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {
                        "PartNumber": p.part_number,
                        "ETag": p.etag,
                        "ChecksumSHA256": p.checksum_sha256,
                    }
                    for p in parts
                ]
            },
        )

    def abort(self, key: str, upload_id: str) -> None:
        try:
            self._call(
                f"abort upload of {key}",
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
            )
        except ObjectStoreError as exc:
            if exc.kind is not ErrorKind.NO_UPLOAD:
                raise

    def delete(self, key: str) -> None:
        self._call(f"delete {key}", self._client.delete_object, Bucket=self.bucket, Key=key)

    def pending_uploads(self, prefix: str) -> list[PendingUpload]:
        found: list[PendingUpload] = []
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            response = self._call(
                f"list multipart uploads under {prefix}",
                self._client.list_multipart_uploads,
                **arguments,
            )
            for upload in response.get("Uploads", []):
                found.append(
                    PendingUpload(upload["Key"], upload["UploadId"], upload.get("Initiated"))
                )
            if not response.get("IsTruncated"):
                return found
            arguments["KeyMarker"] = response.get("NextKeyMarker", "")
            arguments["UploadIdMarker"] = response.get("NextUploadIdMarker", "")

    def _call(self, what: str, operation: Any, **arguments: Any) -> Any:
        try:
            return operation(**arguments)
        except Exception as exc:
            raise _classify(exc, what) from None


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None


_CONFIG_CODES = {
    "AccessDenied": "the S3 key may not write there, or the bucket does not exist "
    "(check s3.bucket, s3.access_key_id and the key's policy)",
    "InvalidAccessKeyId": "S3 does not know this access key (check s3.access_key_id)",
    "SignatureDoesNotMatch": "the S3 secret is wrong (check s3.secret_access_key)",
    "NoSuchBucket": "the bucket does not exist (check s3.bucket)",
    "AllAccessDisabled": "the bucket refuses all access",
    "InvalidBucketName": "the bucket name is invalid (check s3.bucket)",
}


def _classify(exc: BaseException, what: str) -> ObjectStoreError:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        if code == "403":  # a HEAD response has no body to name the reason
            code = "AccessDenied"
        if code in _CONFIG_CODES:
            return ObjectStoreError(ErrorKind.CONFIG, f"{what}: {code}: {_CONFIG_CODES[code]}")
        if code == "NoSuchUpload" or (code == "404" and "part" in what):
            return ObjectStoreError(ErrorKind.NO_UPLOAD, f"{what}: the upload no longer exists")
        if code in ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"):
            return ObjectStoreError(ErrorKind.BAD_DIGEST, f"{what}: {code}: {message}")
        return ObjectStoreError(ErrorKind.TRANSIENT, f"{what}: {code}: {message}")
    if isinstance(exc, BotoCoreError | OSError):
        return ObjectStoreError(ErrorKind.TRANSIENT, f"{what}: {exc}")
    raise exc
