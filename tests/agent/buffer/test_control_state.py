"""Desired state and handled commands, kept across restarts."""

from __future__ import annotations

from pathlib import Path

from agent.buffer.control import HANDLING
from agent.buffer.store import LocalStore
from protocol import new_id
from tests.agent.buffer.conftest import open_store


def test_only_a_newer_desired_revision_is_stored(store: LocalStore) -> None:
    desired = store.desired
    assert desired.save_if_newer(3, '{"revision": 3}', 1.0)
    assert not desired.save_if_newer(3, '{"revision": 3, "again": true}', 2.0)
    assert not desired.save_if_newer(2, '{"revision": 2}', 3.0)
    assert desired.save_if_newer(7, '{"revision": 7}', 4.0)
    stored = desired.load()
    assert stored is not None and (stored.revision, stored.body) == (7, '{"revision": 7}')


def test_a_handled_command_is_a_duplicate_even_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    command_id = new_id()
    first = open_store(path)
    assert first.commands.claim(command_id, received_at=1.0, expires_at=100.0)
    first.commands.finish(command_id, "done", '{"ack": 1}')
    first.close()
    second = open_store(path)
    try:
        assert not second.commands.claim(command_id, received_at=2.0, expires_at=100.0)
        handled = second.commands.get(command_id)
        assert handled is not None and handled.status == "done"
    finally:
        second.close()


def test_unpublished_acks_and_interrupted_commands_are_listed(store: LocalStore) -> None:
    done, interrupted, published = new_id(), new_id(), new_id()
    for command_id in (done, interrupted, published):
        store.commands.claim(command_id, received_at=1.0, expires_at=100.0)
    store.commands.finish(done, "done", "{}")
    store.commands.finish(published, "done", "{}")
    store.commands.mark_ack_published(published)
    pending = {c.command_id: c.status for c in store.commands.unpublished()}
    assert pending == {done: "done", interrupted: HANDLING}


def test_long_expired_published_commands_are_forgotten(store: LocalStore) -> None:
    old, fresh = new_id(), new_id()
    store.commands.claim(old, received_at=1.0, expires_at=10.0)
    store.commands.claim(fresh, received_at=1.0, expires_at=1000.0)
    for command_id in (old, fresh):
        store.commands.finish(command_id, "done", "{}")
        store.commands.mark_ack_published(command_id)
    assert store.commands.prune(expired_before=500.0) == 1
    assert store.commands.get(old) is None and store.commands.get(fresh) is not None
