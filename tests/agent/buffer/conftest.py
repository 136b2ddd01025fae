"""A store in a temporary directory, opened and closed around each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.buffer.config import BufferConfig
from agent.buffer.store import LocalStore, StoreIdentity

IDENTITY = StoreIdentity("org1", "dev1")


def open_store(path: Path, identity: StoreIdentity = IDENTITY, **config: object) -> LocalStore:
    settings: dict[str, object] = {
        "reserve_bytes": 0,
        "min_free_bytes": 0,
        "hard_min_free_bytes": 0,
    }
    settings.update(config)
    store = LocalStore(BufferConfig.model_validate(settings), path=path, identity=identity)
    store.open()
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    opened = open_store(tmp_path / "buffer.db")
    yield opened
    opened.close()
