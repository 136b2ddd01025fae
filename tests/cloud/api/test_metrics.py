"""The API's /metrics, /healthz and request ids, scraped as Prometheus would."""

from __future__ import annotations

from fastapi.testclient import TestClient
from peewee import Database

from cloud.models import Role
from tests.cloud.api.world import auth, build_world
from tests.metrics_helpers import Samples, parse

SESSIONS = "/api/v1/orgs/{org}/sessions"


def metrics(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def test_a_request_increments_its_route_counter_and_histogram(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "metered")
    ok = {"method": "GET", "route": SESSIONS, "status": "200"}
    refused = {"method": "GET", "route": SESSIONS, "status": "401"}
    before = metrics(client)
    for _ in range(3):
        response = client.get(
            f"/api/v1/orgs/{world.slug}/sessions", headers=auth(world.tokens[Role.COACH])
        )
        assert response.status_code == 200
    assert client.get(f"/api/v1/orgs/{world.slug}/sessions").status_code == 401
    assert client.get("/no/such/path").status_code == 404
    after = metrics(client)

    def moved(name: str, labels: dict[str, str]) -> float:
        return after.get(name, labels) - before.get(name, labels)

    assert moved("sideline_api_requests_total", ok) == 3
    assert moved("sideline_api_requests_total", refused) == 1
    # A path no route has is one series, whatever the path: no label per URL.
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert moved("sideline_api_requests_total", unmatched) == 1
    assert not any("/no/such/path" in line for line in after.text.splitlines())
    timed = {"method": "GET", "route": SESSIONS}
    assert moved("sideline_api_request_duration_seconds_count", timed) == 4
    assert moved("sideline_api_request_duration_seconds_sum", timed) > 0
    # The database's connections are counted (this process opened at least one).
    assert after.get("sideline_db_connections_opened_total") >= 0
    assert "sideline_api_requests_in_progress" in after.names()


def test_every_response_carries_a_request_id(db: Database, client: TestClient) -> None:
    first = client.get("/healthz")
    second = client.get("/healthz")
    assert first.status_code == 200 and first.json()["status"] == "ok"
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(i) == 16 for i in ids)
    # A proxy's id is kept; one that is not a plain token is replaced.
    assert client.get("/healthz", headers={"X-Request-ID": "lb-42.a"}).headers["x-request-id"] == (
        "lb-42.a"
    )
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\tor\ninjection"})
    assert replaced.headers["x-request-id"] not in ("bad id\tor\ninjection", "")
    # Errors too.
    assert "x-request-id" in client.get("/api/v1/orgs/x/sessions").headers


def test_the_operations_routes_are_documented_but_metrics_is_not(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/healthz" in paths and "/readyz" in paths
    assert set(paths["/readyz"]["get"]["responses"]) >= {"200", "503"}
    assert "/metrics" not in paths  # for Prometheus, not API clients (docs/operations.md)
