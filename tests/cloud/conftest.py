"""Cloud database fixtures: every data-model test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import Database

from cloud.db import database_proxy, open_database
from cloud.migrations import migrate
from cloud.models import ALL_MODELS
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.postgres import TemporaryDatabase
from tests.fixtures.services import BrokerFactory


@pytest.fixture(scope="session")
def mosquitto(broker_factory: BrokerFactory) -> MosquittoBroker:
    """The cloud tests' own broker.

    The agent's tests leave retained statuses and persistent sessions on the shared
    broker; an ingest started here would (rightly) dead-letter those strangers.
    """
    return broker_factory()


@pytest.fixture(scope="session")
def cloud_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A PostgreSQL database migrated once for the session; tests empty it after use."""
    database = TemporaryDatabase(postgres_admin_url, prefix="sideline_cloud")
    url = database.create()
    migrate(open_database(url))
    database_proxy.obj.close()
    yield url
    database.drop()


def empty_tables(database: Database) -> None:
    # DELETE, not TRUNCATE: on tables this small, TRUNCATE's new files cost far more.
    with database.atomic():
        for model in reversed(ALL_MODELS):
            model.delete().execute()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database URL of each kind (PostgreSQL's is shared: see ``db``)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cloud.db'}"
        migrate(open_database(url))
        return url
    return str(request.getfixturevalue("cloud_postgres_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """The models bound to a migrated, empty database (SQLite, then PostgreSQL)."""
    database = open_database(db_url)
    try:
        yield database
    finally:
        if database.in_transaction():
            database.rollback()
        empty_tables(database)
        database.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database only (tests whose subject is not the database)."""
    database = open_database(f"sqlite:///{tmp_path / 'cloud.db'}")
    migrate(database)
    yield database
    database.close()


@pytest.fixture
def pg_db(cloud_postgres_url: str) -> Iterator[Database]:
    """PostgreSQL only (for behaviour only PostgreSQL's bulk path has)."""
    database = open_database(cloud_postgres_url)
    try:
        yield database
    finally:
        if database.in_transaction():
            database.rollback()
        empty_tables(database)
        database.close()
