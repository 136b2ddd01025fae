"""API test fixtures: one database of each kind per test session, emptied after
each test; the app with a broker-less control publisher and a real URL signer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.app import create_app
from cloud.api.runtime import ApiRuntime
from cloud.config import CloudConfig
from cloud.db import database_proxy, open_database
from cloud.devices.control import DeviceControl
from cloud.migrations import migrate
from cloud.models import ALL_MODELS
from cloud.object_store import S3Credentials, SigV4UrlSigner
from sideline.services.process import free_port
from tests.cloud.api.world import RecordingPublisher


def empty_tables(database: Database) -> None:
    """DELETE, children first: for a test's few rows much faster than PostgreSQL's TRUNCATE."""
    with database.atomic():
        for model in reversed(ALL_MODELS):
            model.delete().execute()


@pytest.fixture(scope="session")
def api_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'cloud.db'}"
    migrate(open_database(url))
    return url


@pytest.fixture(scope="session")
def api_databases() -> dict[str, Database]:
    """One Database object per kind for the session, so that connections (one per
    thread) are reused from test to test."""
    return {}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, api_databases: dict[str, Database]) -> Iterator[Database]:
    """The models bound to a migrated database (SQLite, then PostgreSQL), emptied after the test."""
    kind = request.param
    if kind not in api_databases:
        name = "api_sqlite_url" if kind == "sqlite" else "cloud_postgres_url"
        api_databases[kind] = open_database(str(request.getfixturevalue(name)))
    database = api_databases[kind]
    database_proxy.initialize(database)
    try:
        yield database
    finally:
        database_proxy.initialize(database)  # a test may have pointed the models elsewhere
        if database.in_transaction():
            database.rollback()
        empty_tables(database)


@pytest.fixture
def api_db_url(db: Database, request: pytest.FixtureRequest) -> str:
    """The URL of the database ``db`` is (for a process part that opens its own)."""
    kind = request.node.callspec.params["db"]
    return str(
        request.getfixturevalue("api_sqlite_url" if kind == "sqlite" else "cloud_postgres_url")
    )


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def runtime(db: Database, publisher: RecordingPublisher, tmp_path: Path) -> ApiRuntime:
    signer = SigV4UrlSigner(
        endpoint_url="http://127.0.0.1:9/",
        bucket="sideline-clips",
        region="us-east-1",
        credentials=S3Credentials("test-key", "test-secret"),
        expires_in=600,
    )
    control = DeviceControl(publisher, prefix="sideline", publish_timeout_s=1.0)
    return ApiRuntime(database=db, control=control, signer=signer, sink=None)


@pytest.fixture(scope="session")
def api_app() -> FastAPI:
    return create_app(CloudConfig())


@pytest.fixture(scope="session")
def session_clients() -> Iterator[list[TestClient]]:
    """The one started TestClient of the session (starting one costs ~0.1 s)."""
    clients: list[TestClient] = []
    yield clients
    for started in clients:
        started.__exit__(None, None, None)


@pytest.fixture
def client(api_app: FastAPI, runtime: ApiRuntime, session_clients: list[TestClient]) -> TestClient:
    """The app, serving this test's runtime (database, control, signer, sink)."""
    api_app.state.runtime = runtime
    if not session_clients:
        started = TestClient(api_app)
        started.__enter__()
        session_clients.append(started)
    return session_clients[0]


@pytest.fixture
def server(runtime: ApiRuntime) -> Iterator[str]:
    """The app served by a real uvicorn on a free port, in a thread."""
    config = uvicorn.Config(
        create_app(CloudConfig(), runtime=runtime),
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, name="uvicorn", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):
        if instance.started:
            started.set()
            break
        threading.Event().wait(0.05)
    assert started.is_set(), "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        instance.should_exit = True
        thread.join(10)
