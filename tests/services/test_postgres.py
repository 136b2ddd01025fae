"""PostgreSQL: a fresh database per session, on the machine's server or a throwaway cluster."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import peewee
from playhouse.db_url import connect

from sideline.services.postgres import PostgresCluster, TemporaryDatabase, server_answers


class Probe(peewee.Model):
    name = peewee.CharField(unique=True)


def _round_trip(url: str) -> None:
    database = connect(url)
    with database.bind_ctx([Probe]):
        database.create_tables([Probe])
        Probe.create(name="hello")
        assert [p.name for p in Probe.select()] == ["hello"]
    database.close()


def test_fresh_database_holds_a_table_and_a_row(postgres_url: str) -> None:
    _round_trip(postgres_url)


def test_sqlite_file_holds_a_table_and_a_row(sqlite_path: Path) -> None:
    _round_trip(f"sqlite:///{sqlite_path}")
    assert sqlite_path.exists()


def test_throwaway_cluster_when_no_server_answers() -> None:
    """The fallback a newcomer without a PostgreSQL server gets, exercised for real."""
    data_dir = Path(tempfile.mkdtemp(prefix="sideline-pg-"))
    cluster = PostgresCluster(data_dir)
    try:
        cluster.start()
        assert server_answers(cluster.admin_url)
        database = TemporaryDatabase(cluster.admin_url)
        url = database.create()
        _round_trip(url)
        database.drop()
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    assert not server_answers(cluster.admin_url)
