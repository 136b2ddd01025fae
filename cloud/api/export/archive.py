"""Downloadable exports: JSON Lines (streamed) or a ZIP of ``{id}.json`` files."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO

from cloud.api.schemas.timeline import TimelineDocument

__all__ = ["jsonl_chunks", "read_chunks", "zip_documents"]

_CHUNK = 64 * 1024


def jsonl_chunks(documents: Iterable[TimelineDocument]) -> Iterator[bytes]:
    """One JSON document per line, yielded in chunks of about 64 KiB."""
    buffer: list[bytes] = []
    size = 0
    for document in documents:
        line = document.model_dump_json().encode() + b"\n"
        buffer.append(line)
        size += len(line)
        if size >= _CHUNK:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def zip_documents(documents: Iterable[TimelineDocument]) -> IO[bytes]:
    """A ZIP with one ``{id}.json`` per item, spooled to disk past 16 MiB; rewound."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for document in documents:
            archive.writestr(f"{document.id}.json", document.model_dump_json(indent=2))
    spool.seek(0)
    return spool


def read_chunks(file: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := file.read(_CHUNK):
            yield chunk
    finally:
        file.close()
