"""Fetching a model file named by the cloud: from a URL or from the object store.

Downloads stream to a file in chunks, stop at a size limit and a timeout, and
never touch the model that is running: the installer verifies the result.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from agent.errors import AgentError
from protocol import ModelRef

__all__ = ["FetchError", "ModelFetcher", "ObjectStore", "S3ObjectStore"]

_CHUNK = 1 << 20


class FetchError(AgentError, RuntimeError):
    """The model could not be fetched; the message says from where and why."""


class ObjectStore(Protocol):
    def download(self, key: str, dest: Path, max_bytes: int) -> None: ...


class S3ObjectStore:
    """Models in the device's bucket, read with the device's own (prefix-scoped) keys."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client  # a boto3 S3 client
        self.bucket = bucket

    def download(self, key: str, dest: Path, max_bytes: int) -> None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # botocore's ClientError and connection errors
            raise FetchError(f"s3://{self.bucket}/{key}: {exc}") from None
        size = int(response.get("ContentLength") or 0)
        if size > max_bytes:
            response["Body"].close()
            raise FetchError(
                f"s3://{self.bucket}/{key} is {size} bytes, above the limit of {max_bytes}"
            )
        with dest.open("wb") as out:
            _copy_limited(response["Body"], out, max_bytes, f"s3://{self.bucket}/{key}")


def _copy_limited(source: Any, out: Any, max_bytes: int, where: str) -> None:
    written = 0
    while block := source.read(_CHUNK):
        written += len(block)
        if written > max_bytes:
            raise FetchError(f"{where} is larger than the limit of {max_bytes} bytes")
        out.write(block)


class ModelFetcher:
    def __init__(self, store: ObjectStore | None = None, *, timeout_s: float = 120.0) -> None:
        self.store = store
        self.timeout_s = timeout_s

    def fetch(self, ref: ModelRef, dest: Path, max_bytes: int) -> None:
        if ref.s3_key is not None:
            if self.store is None:
                raise FetchError(
                    f"model {ref.s3_key} is in the object store, but no S3 client is configured"
                )
            self.store.download(ref.s3_key, dest, max_bytes)
            return
        assert ref.url is not None  # ModelRef holds exactly one location
        if not ref.url.startswith(("https://", "http://")):
            raise FetchError(f"model URL {ref.url!r} is not http(s)")
        try:
            with urllib.request.urlopen(ref.url, timeout=self.timeout_s) as response:  # noqa: S310
                length = response.headers.get("Content-Length")
                if length is not None and int(length) > max_bytes:
                    raise FetchError(f"{ref.url} is {length} bytes, above the limit of {max_bytes}")
                with dest.open("wb") as out:
                    _copy_limited(response, out, max_bytes, ref.url)
        except urllib.error.URLError as exc:
            raise FetchError(f"{ref.url}: {exc}") from None
        except (TimeoutError, OSError) as exc:
            raise FetchError(f"{ref.url}: {exc}") from None
