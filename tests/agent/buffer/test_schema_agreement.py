"""The store's tables are written three times: the DDL of ``agent.buffer.schema``, the
peewee models of ``agent.buffer.models``, and the raw SQL of the outbox (and the
writer's ``INSERT``). These tests fail as soon as one of them names a table or a
column, a type, a default or a NULL rule the others do not."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from peewee import (
    AutoField,
    BinaryUUIDField,
    BooleanField,
    Field,
    FloatField,
    IntegerField,
    Model,
    TextField,
)

from agent.buffer.outbox import ReceiptUpdate
from agent.buffer.store import LocalStore
from protocol import new_id
from tests.agent.factories import make_clip, make_event, make_log

# peewee field -> the column type SQLite was told in the DDL
_DECLARED = {
    AutoField: "INTEGER",
    BinaryUUIDField: "BLOB",
    BooleanField: "INTEGER",
    FloatField: "REAL",
    IntegerField: "INTEGER",
    TextField: "TEXT",
}


def _declared(field: Field) -> str:
    for kind, declared in _DECLARED.items():
        if type(field) is kind:
            return declared
    raise AssertionError(f"no SQLite type known for {type(field).__name__} ({field.name})")


def _models(store: LocalStore) -> dict[str, type[Model]]:
    tables = store.tables
    models = [
        tables.logs,
        tables.events,
        tables.clips,
        tables.parts,
        tables.desired,
        tables.commands,
        tables.counters,
        tables.pending_clips,
    ]
    return {model._meta.table_name: model for model in models}


def test_every_table_is_modelled_and_every_model_has_its_table(store: LocalStore) -> None:
    created = {
        name
        for (name,) in store.database.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        ).fetchall()
    }
    assert created == set(_models(store))


@pytest.mark.parametrize(
    "table",
    ["logs", "events", "clips", "upload_parts", "desired_state", "handled_commands", "counters"],
)
def test_the_model_describes_the_table_column_by_column(store: LocalStore, table: str) -> None:
    model = _models(store)[table]
    columns = {
        name: (declared, bool(notnull), default, bool(pk))
        for _, name, declared, notnull, default, pk in store.database.execute_sql(
            f"PRAGMA table_info({table})"
        ).fetchall()
    }
    fields = {field.column_name: field for field in model._meta.sorted_fields}
    assert list(columns) == list(fields), "same columns, in the same order"
    primary = {f.column_name for f in model._meta.get_primary_keys()}
    for name, field in fields.items():
        declared, notnull, default, pk = columns[name]
        assert declared == _declared(field), name
        assert pk == (name in primary), name
        if pk:
            continue  # a key's rules are its own (desired_state's is CHECKed to be 1)
        assert notnull == (not field.null), f"{table}.{name}: NULL rule"
        if field.default is not None:
            value = field.db_value(field.default)
            assert default is not None and float(default) == float(value), f"{name}: default"
        else:
            assert default is None, f"{table}.{name}: a default only the DDL knows"


@contextmanager
def _columns_used(store: LocalStore) -> Iterator[set[tuple[str, str]]]:
    """Every (table, column) a statement reads or writes while the block runs, as SQLite's
    authorizer reports them when it prepares each statement."""
    used: set[tuple[str, str]] = set()

    def authorize(action: int, table: str | None, column: str | None, *_: object) -> int:
        if action in (sqlite3.SQLITE_READ, sqlite3.SQLITE_UPDATE) and table and column:
            if not table.startswith("sqlite_"):
                used.add((table, column))
        return sqlite3.SQLITE_OK

    connection = store.database.connection()
    connection.set_authorizer(authorize)
    try:
        yield used
    finally:
        connection.set_authorizer(None)


def test_the_outbox_and_writer_name_only_modelled_columns(
    store: LocalStore, tmp_path: Path
) -> None:
    now = time.time()
    with _columns_used(store) as used:
        store.add_logs([make_log() for _ in range(3)])
        store.add_events([make_event() for _ in range(3)])
        store.add_clip(make_clip(tmp_path / "clips"))
        for kind in ("logs", "events"):
            message = new_id()
            [batch] = store.outbox.claim(
                kind, [message], max_records=10, max_bytes=100_000, now=now, max_delay_s=600
            )
            stored, rejected = batch.ids[:1], [(batch.ids[1], "no")]
            store.outbox.apply_receipts(
                [ReceiptUpdate(kind, stored, rejected, for_message=message)],
                now,
                retry_left_out_at=now,
            )
            store.outbox.requeue(kind, [message])
            store.outbox.reject(kind, batch.ids[2:], "refused", now)
        store.outbox.requeue_all_published()
        store.outbox.backlog(now)
        store.outbox.prune_synced(now + 1)
    assert used, "the authorizer saw nothing"
    models = _models(store)
    unknown = sorted(
        (table, column)
        for table, column in used
        if table not in models or column not in models[table]._meta.columns
    )
    assert unknown == []
    tables = {table for table, _ in used}
    assert {"logs", "events", "clips"} <= tables
