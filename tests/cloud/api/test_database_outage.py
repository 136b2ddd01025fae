"""The API through a PostgreSQL outage: connections the server dropped are replaced,
and while it refuses connections every request gets 503 database_unavailable."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg2
import pytest
from fastapi.testclient import TestClient
from peewee import Database, InterfaceError, OperationalError

from cloud.api.errors import _database_unavailable
from cloud.models import Role
from tests.cloud.api.world import auth, build_world

POSTGRES_ONLY = pytest.mark.parametrize("db", ["postgres"], indirect=True)


@contextmanager
def admin(postgres_admin_url: str) -> Iterator[psycopg2.extensions.cursor]:
    connection = psycopg2.connect(postgres_admin_url)
    connection.autocommit = True
    try:
        yield connection.cursor()
    finally:
        connection.close()


def drop_connections(postgres_admin_url: str, database: str) -> int:
    """What a server restart does to every client of ``database``."""
    with admin(postgres_admin_url) as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def sessions_page(client: TestClient, slug: str, token: str) -> int:
    return client.get(f"/api/v1/orgs/{slug}/sessions", headers=auth(token)).status_code


@POSTGRES_ONLY
def test_connections_the_server_dropped_are_replaced_without_failing_a_request(
    db: Database, client: TestClient, cloud_postgres_url: str, postgres_admin_url: str
) -> None:
    world = build_world(db, "outage")
    token = world.tokens[Role.COACH]
    name = urlsplit(cloud_postgres_url).path.lstrip("/")
    for _ in range(3):  # more than one of the app's threads holds a connection
        assert sessions_page(client, world.slug, token) == 200
    assert drop_connections(postgres_admin_url, name) >= 1
    statuses = [sessions_page(client, world.slug, token) for _ in range(6)]
    assert statuses == [200] * 6
    created = client.post(
        f"/api/v1/orgs/{world.slug}/sessions", headers=auth(token), json={"title": "After"}
    )
    assert created.status_code == 201, created.text


@POSTGRES_ONLY
def test_a_database_that_refuses_connections_gives_503_and_the_api_recovers(
    db: Database, client: TestClient, cloud_postgres_url: str, postgres_admin_url: str
) -> None:
    world = build_world(db, "refusing")
    token = world.tokens[Role.COACH]
    name = urlsplit(cloud_postgres_url).path.lstrip("/")
    assert sessions_page(client, world.slug, token) == 200
    with admin(postgres_admin_url) as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    try:
        drop_connections(postgres_admin_url, name)
        response = client.get(f"/api/v1/orgs/{world.slug}/sessions", headers=auth(token))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable"
        assert response.headers["Retry-After"] == "2"
    finally:
        with admin(postgres_admin_url) as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert [sessions_page(client, world.slug, token) for _ in range(4)] == [200] * 4


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (OperationalError(psycopg2.OperationalError("server closed the connection")), True),
        (InterfaceError(psycopg2.InterfaceError("connection already closed")), True),
        (OperationalError(sqlite3.OperationalError("database is locked")), True),
        (OperationalError(sqlite3.OperationalError('near "SELEC": syntax error')), False),
        (OperationalError(sqlite3.OperationalError("no such table: clip")), False),
    ],
)
def test_only_errors_that_waiting_cures_are_503(error: Exception, unavailable: bool) -> None:
    # A mistake in SQL on SQLite is an OperationalError too: that is a 500 with a
    # logged traceback, not "retry shortly".
    assert _database_unavailable(error) is unavailable
