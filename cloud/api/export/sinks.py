"""Where "embed the timeline" sends a session's documents.

A sink receives every document of one session in one ``push`` and makes the
index hold exactly those (a clip deleted since the last push disappears).
Two real sinks: :class:`DirectorySink` (files an indexer can watch) and
:class:`WebhookSink` (JSON Lines POSTed to an embeddings service). A local
vector index can be added behind the same protocol.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol
from uuid import UUID

import httpx

from cloud.api.config import DirectorySinkConfig, EmbeddingsSinkConfig, WebhookSinkConfig
from cloud.api.schemas.timeline import TimelineDocument
from cloud.errors import CloudError
from protocol.ids import new_id

__all__ = [
    "DirectorySink",
    "EmbeddingsSink",
    "SinkError",
    "SinkResult",
    "WebhookSink",
    "build_sink",
]

log = logging.getLogger(__name__)


class SinkError(CloudError, RuntimeError):
    """The sink did not take the documents; the message says why."""


@dataclass(frozen=True)
class SinkResult:
    documents: int
    batches: int
    location: str | None


class EmbeddingsSink(Protocol):
    name: str

    def push(
        self, *, org: str, session_id: UUID, documents: Iterable[TimelineDocument]
    ) -> SinkResult:
        """Replace what the index holds for the session with ``documents``."""


def _batches(documents: Iterable[TimelineDocument], size: int) -> Iterator[list[TimelineDocument]]:
    iterator = iter(documents)
    while batch := list(islice(iterator, size)):
        yield batch


def _line(document: TimelineDocument) -> bytes:
    return document.model_dump_json().encode() + b"\n"


class DirectorySink:
    """``{root}/{org}/{session}/{item}.json`` per item plus ``timeline.jsonl``.

    Files are written to a temporary name and renamed, so a watcher never reads
    half a document; documents no longer on the timeline are removed.
    """

    name = "directory"

    def __init__(self, root: Path) -> None:
        self.root = root

    def push(
        self, *, org: str, session_id: UUID, documents: Iterable[TimelineDocument]
    ) -> SinkResult:
        folder = self.root / org / str(session_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            written: set[str] = set()
            with tempfile.NamedTemporaryFile(
                "wb", dir=folder, delete=False, suffix=".tmp"
            ) as lines:
                for document in documents:
                    body = _line(document)
                    lines.write(body)
                    name = f"{document.id}.json"
                    _write_atomically(folder / name, body)
                    written.add(name)
            os.replace(lines.name, folder / "timeline.jsonl")
            for stale in folder.glob("*.json"):
                if stale.name not in written:
                    stale.unlink()
        except OSError as exc:
            raise SinkError(f"cannot write documents under {folder}: {exc}") from exc
        return SinkResult(documents=len(written), batches=1, location=str(folder))


def _write_atomically(path: Path, body: bytes) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_bytes(body)
    os.replace(temporary, path)


class WebhookSink:
    """POSTs ``application/x-ndjson`` batches; the last batch says so.

    Headers: ``X-Sideline-Org``, ``X-Sideline-Session``, ``X-Sideline-Push`` (one
    id per push, so the receiver can swap a session's documents atomically),
    ``X-Sideline-Batch`` (0, 1, ...) and ``X-Sideline-Last: true`` on the final
    batch (an empty one when the timeline is empty). Connection errors and 5xx
    are retried with backoff; a 4xx is not.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        batch_size: int = 500,
        timeout_s: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.batch_size = batch_size
        self.retries = retries
        headers = {"Content-Type": "application/x-ndjson"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._client.close()

    def push(
        self, *, org: str, session_id: UUID, documents: Iterable[TimelineDocument]
    ) -> SinkResult:
        push_id = str(new_id())
        count = sent = 0
        pending: list[TimelineDocument] | None = None
        for batch in _batches(documents, self.batch_size):
            if pending is not None:
                self._post(org, session_id, push_id, sent, pending, last=False)
                sent += 1
            pending = batch
            count += len(batch)
        self._post(org, session_id, push_id, sent, pending or [], last=True)
        return SinkResult(documents=count, batches=sent + 1, location=self.url)

    def _post(
        self,
        org: str,
        session_id: UUID,
        push_id: str,
        index: int,
        batch: list[TimelineDocument],
        *,
        last: bool,
    ) -> None:
        body = b"".join(_line(document) for document in batch)
        headers = {
            "X-Sideline-Org": org,
            "X-Sideline-Session": str(session_id),
            "X-Sideline-Push": push_id,
            "X-Sideline-Batch": str(index),
            "X-Sideline-Last": "true" if last else "false",
        }
        for attempt in range(self.retries + 1):
            try:
                response = self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500:
                    break  # the receiver refuses this batch; retrying will not help
            if attempt < self.retries:
                delay = min(0.2 * 2**attempt, 5.0)
                log.warning(
                    "embeddings webhook batch %d: %s; retrying in %.1f s", index, problem, delay
                )
                time.sleep(delay)
        raise SinkError(f"the embeddings webhook {self.url} did not take batch {index}: {problem}")


def build_sink(config: EmbeddingsSinkConfig) -> EmbeddingsSink | None:
    if isinstance(config, DirectorySinkConfig):
        return DirectorySink(config.path)
    if isinstance(config, WebhookSinkConfig):
        return WebhookSink(
            config.url,
            token=config.token.get_secret_value() if config.token else None,
            batch_size=config.batch_size,
            timeout_s=config.timeout_s,
            retries=config.retries,
        )
    return None
