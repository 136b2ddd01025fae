"""/healthz and /readyz on the API and the ingest: 503 with the reason while PostgreSQL or
the broker is down, 200 once they are back, and never held by a dependency that hangs."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from peewee import PostgresqlDatabase

from cloud.api.app import create_app
from cloud.api.config import SchedulingConfig
from cloud.api.runtime import build_runtime
from cloud.config import ApiConfig, CloudConfig, CloudMqttConfig
from cloud.db import database_proxy, open_database
from cloud.ingest.config import IngestConfig
from cloud.migrations import migrate
from cloud.observability.config import HealthConfig
from cloud.observability.health import DatabaseCheck, Readiness
from sideline.services.postgres import PostgresCluster, TemporaryDatabase
from tests.cloud.ingest.helpers import running_ingest
from tests.fixtures.services import MQTT_ADMIN, BrokerFactory
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresCluster]:
    """A server of the test's own, to stop and start (never the machine's)."""
    data_dir = Path(tempfile.mkdtemp(prefix="sideline-pg-health-"))
    cluster = PostgresCluster(data_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def failing(body: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["detail"] for check in body["checks"] if not check["ok"]}


def test_readiness_follows_postgresql_and_the_broker_on_the_api_and_the_ingest(
    own_postgres: PostgresCluster, broker_factory: BrokerFactory
) -> None:
    broker = broker_factory()
    url = TemporaryDatabase(own_postgres.admin_url, prefix="sideline_health").create()
    migrate(open_database(url))
    database_proxy.obj.close()
    config = CloudConfig(
        database_url=url,
        mqtt=CloudMqttConfig(
            host=broker.host, port=broker.port, username=MQTT_ADMIN[0], password=MQTT_ADMIN[1]
        ),
        api=ApiConfig(scheduling=SchedulingConfig(jobs=False)),
        ingest=IngestConfig(http_port=0),
        health=HealthConfig(timeout_s=1.0, cache_s=0.1),
    )
    runtime = build_runtime(config)
    try:
        with (
            TestClient(create_app(config, runtime=runtime)) as api,
            running_ingest(config) as ingest,
        ):
            assert ingest.ops is not None
            base = f"http://127.0.0.1:{ingest.ops.port}"

            def ready() -> tuple[int, int]:
                return api.get("/readyz").status_code, get(f"{base}/readyz")[0]

            def alive() -> tuple[int, int]:
                return api.get("/healthz").status_code, get(f"{base}/healthz")[0]

            wait_until(lambda: ready() == (200, 200), what="both ready")
            _, body = get(f"{base}/readyz")
            assert {c["name"] for c in body["checks"]} == {"database", "broker"}
            assert "schema version" in body["checks"][0]["detail"]

            broker.stop()
            wait_until(lambda: ready() == (503, 503), what="both unready without the broker")
            for body in (api.get("/readyz").json(), get(f"{base}/readyz")[1]):
                assert body["status"] == "unavailable"
                assert set(failing(body)) == {"broker"}
                assert f"{broker.host}:{broker.port}" in failing(body)["broker"]
            assert alive() == (200, 200)  # liveness does not follow a dependency
            broker.start()
            wait_until(lambda: ready() == (200, 200), timeout_s=60, what="both ready again")

            own_postgres.stop()
            wait_until(lambda: ready() == (503, 503), what="both unready without PostgreSQL")
            for body in (api.get("/readyz").json(), get(f"{base}/readyz")[1]):
                assert set(failing(body)) == {"database"}
            assert alive() == (200, 200)
            own_postgres.start()
            wait_until(lambda: ready() == (200, 200), timeout_s=60, what="both ready again")
    finally:
        runtime.close()


class Blackhole:
    """A TCP server that accepts connections and never says a word (a hung database)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.socket.close()


def test_a_hung_database_is_reported_within_the_timeout_and_checked_once_at_a_time() -> None:
    hole = Blackhole()
    try:
        database = PostgresqlDatabase("nowhere", host="127.0.0.1", port=hole.port, user="x")
        check = DatabaseCheck(database, expected_version=1, timeout_s=2.0)
        readiness = Readiness([check], timeout_s=0.3, cache_s=0.0)
        first = readiness.report()
        assert not first.ready
        assert first.checks[0].detail == "did not answer within 0.3 s"
        # Asked again while the first check still hangs: no second connection.
        second = readiness.report()
        assert not second.ready and second.checks[0].detail == "did not answer within 0.3 s"
        assert len(hole.accepted) == 1
        # The hung check ends at its own connect timeout, with the driver's reason.
        wait_until(
            lambda: "timeout" in readiness.report().checks[0].detail.lower(),
            what="the connect timeout",
        )
    finally:
        hole.close()
