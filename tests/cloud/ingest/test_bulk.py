"""The bulk insert: idempotent on both databases, and safe when two workers race."""

from __future__ import annotations

import threading

import psycopg2
from peewee import Database

import protocol as p
from cloud.db import database_proxy
from cloud.ingest.bulk import PreparedRow, insert_ignore
from cloud.ingest.encoding import RowEncoder
from cloud.ingest.rows import KIND_SPECS, RecordContext
from cloud.models import Log
from tests.cloud.factories import make_device, make_org
from tests.cloud.ingest.helpers import log_batch
from tests.waiting import wait_until

SPEC = KIND_SPECS["logs"]


def _rows(
    database: Database, org_id: object, device_id: str, batch: p.LogBatch
) -> list[PreparedRow]:
    encoder = RowEncoder.for_database(database)
    ctx = RecordContext(org_id, device_id, batch.message_id, p.utc_now())  # type: ignore[arg-type]
    context = encoder.encode(SPEC.context_fields, SPEC.context_values(ctx, None, None))
    parts = encoder.encode_records(SPEC, batch.records)
    return [
        PreparedRow(r.id, device_id, context, part)
        for r, part in zip(batch.records, parts, strict=True)
    ]


def _someone_waits_on_a_lock(database: Database) -> bool:
    with psycopg2.connect(dbname=database.database, **database.connect_params) as conn:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return bool(cursor.fetchone()[0])


def test_insert_skips_stored_ids_and_reports_foreign_ones(db: Database) -> None:
    org = make_org()
    mine, other = make_device(org), make_device(org)
    batch = log_batch(org.slug, mine.id, 6)
    with db.atomic():
        first = insert_ignore(db, SPEC, _rows(db, org.id, mine.id, batch)[:4])
    with db.atomic():
        again = insert_ignore(db, SPEC, _rows(db, org.id, mine.id, batch))
    with db.atomic():
        stolen = insert_ignore(db, SPEC, _rows(db, org.id, other.id, batch)[:3])
    assert (first.inserted, again.inserted, stolen.inserted) == (4, 2, 0)
    assert (first.foreign, again.foreign) == (set(), set())
    assert stolen.foreign == {r.id for r in batch.records[:3]}
    assert Log.select().count() == 6


def test_two_workers_racing_on_the_same_ids_store_each_once(pg_db: Database) -> None:
    org = make_org()
    device = make_device(org)
    batch = log_batch(org.slug, device.id, 10)
    rows = _rows(pg_db, org.id, device.id, batch)
    inserted_first = threading.Event()
    release = threading.Event()

    def other_worker() -> None:
        with pg_db.atomic():  # its own connection: peewee connections are per thread
            insert_ignore(pg_db, SPEC, rows[:6])
            inserted_first.set()
            release.wait(10)
        pg_db.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert inserted_first.wait(10)
    outcome: list[object] = []

    def this_worker() -> None:
        # Its insert waits on the other's uncommitted rows, then skips them once committed.
        with pg_db.atomic():
            outcome.append(insert_ignore(pg_db, SPEC, rows[3:]))
        pg_db.close()

    second = threading.Thread(target=this_worker)
    second.start()
    wait_until(lambda: _someone_waits_on_a_lock(pg_db), what="the insert to wait for the other")
    release.set()
    thread.join(10)
    second.join(10)
    assert database_proxy.obj is pg_db
    [result] = outcome
    assert (result.inserted, result.foreign) == (4, set())  # type: ignore[attr-defined]
    assert sorted(log.id for log in Log.select()) == sorted(r.id for r in batch.records)
