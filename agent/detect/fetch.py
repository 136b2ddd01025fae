"""Fetching a model file named by the cloud: from a URL or from the object store.

Downloads stream to a file in chunks, stop at a size limit and a timeout, and
never touch the model that is running: the installer verifies the result.
The object store is the agent's one (``agent.sync.objectstore.S3ObjectStore``),
handed in by the wiring; detection sees only the :class:`ObjectSource` it needs.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from agent.errors import AgentError
from protocol import ModelRef

__all__ = ["FetchError", "ModelFetcher", "ObjectSource"]

_CHUNK = 1 << 20


class FetchError(AgentError, RuntimeError):
    """The model could not be fetched; the message says from where and why."""


class ObjectSource(Protocol):
    """Where models in the device's bucket are read from."""

    bucket: str

    def open_read(self, key: str) -> tuple[int, BinaryIO]:
        """The object's size and a stream of its bytes; raises when it cannot be read."""
        ...


def _copy_limited(source: Any, out: Any, max_bytes: int, where: str) -> None:
    written = 0
    while block := source.read(_CHUNK):
        written += len(block)
        if written > max_bytes:
            raise FetchError(f"{where} is larger than the limit of {max_bytes} bytes")
        out.write(block)


class ModelFetcher:
    def __init__(self, store: ObjectSource | None = None, *, timeout_s: float = 120.0) -> None:
        self.store = store
        self.timeout_s = timeout_s

    def fetch(self, ref: ModelRef, dest: Path, max_bytes: int) -> None:
        if ref.s3_key is not None:
            self._from_store(ref.s3_key, dest, max_bytes)
            return
        assert ref.url is not None  # ModelRef holds exactly one location
        if not ref.url.startswith(("https://", "http://")):
            raise FetchError(f"model URL {ref.url!r} is not http(s)")
        try:
            with urllib.request.urlopen(ref.url, timeout=self.timeout_s) as response:
                length = response.headers.get("Content-Length")
                if length is not None and int(length) > max_bytes:
                    raise FetchError(f"{ref.url} is {length} bytes, above the limit of {max_bytes}")
                with dest.open("wb") as out:
                    _copy_limited(response, out, max_bytes, ref.url)
        except urllib.error.URLError as exc:
            raise FetchError(f"{ref.url}: {exc}") from None
        except (TimeoutError, OSError) as exc:
            raise FetchError(f"{ref.url}: {exc}") from None

    def _from_store(self, key: str, dest: Path, max_bytes: int) -> None:
        if self.store is None:
            raise FetchError(f"model {key} is in the object store, but no S3 client is configured")
        where = f"s3://{self.store.bucket}/{key}"
        try:
            size, body = self.store.open_read(key)
        except Exception as exc:  # whatever the store raises: it names the reason
            raise FetchError(f"{where}: {exc}") from None
        with closing(body):
            if size > max_bytes:
                raise FetchError(f"{where} is {size} bytes, above the limit of {max_bytes}")
            with dest.open("wb") as out:
                _copy_limited(body, out, max_bytes, where)
