"""``sideline cloud api --workers 2``: /metrics sums both workers (prometheus-client's
multiprocess mode), a killed worker's counts stay, and ``--log-format json`` writes one
JSON object per line with the request id."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx

from cloud.db import open_database
from cloud.migrations import migrate
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.process import free_port
from tests.fixtures.services import MQTT_ADMIN
from tests.metrics_helpers import parse
from tests.procs import child_env, sideline_argv
from tests.waiting import wait_until

HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}


def worker_pids(metrics_dir: Path) -> set[int]:
    return {
        int(match.group(1))
        for name in os.listdir(metrics_dir)
        if (match := re.match(r"^counter_(\d+)\.db$", name))
    }


def test_two_workers_are_counted_as_one_api(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(open_database(url))
    port, metrics_dir = free_port(), tmp_path / "metrics"
    env = child_env(
        SIDELINE_CLOUD_DATABASE_URL=url,
        SIDELINE_CLOUD_MQTT__HOST=mosquitto.host,
        SIDELINE_CLOUD_MQTT__PORT=str(mosquitto.port),
        SIDELINE_CLOUD_MQTT__USERNAME=MQTT_ADMIN[0],
        SIDELINE_CLOUD_MQTT__PASSWORD=MQTT_ADMIN[1],
        SIDELINE_CLOUD_API__METRICS_DIR=str(metrics_dir),
        SIDELINE_CLOUD_API__SCHEDULING__JOBS="false",
    )
    log_path = tmp_path / "api.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            sideline_argv(
                "cloud", "api", "--port", str(port), "--workers", "2", "--log-format", "json"
            ),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:

            def answers() -> bool:
                assert process.poll() is None, log_path.read_text()
                try:
                    return http.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(answers, timeout_s=60, what="the API")
            wait_until(lambda: len(worker_pids(metrics_dir)) == 2, timeout_s=60, what="2 workers")

            def healthz_count() -> float:
                text = httpx.get(f"{base}/metrics", timeout=30).text
                return parse(text).get("sideline_api_requests_total", HEALTHZ)

            before = healthz_count()
            # Fresh connections, so that both workers take some.
            for _ in range(20):
                assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
            refused = http.get("/api/v1/me", headers={"X-Request-ID": "trace-me-1"})
            assert refused.status_code == 401 and refused.headers["x-request-id"] == "trace-me-1"
            # Whichever worker answers a scrape, it reports both workers' requests.
            counts = [healthz_count() for _ in range(6)]
            assert counts == [before + 20] * 6, (before, counts)
            _, second = sorted(worker_pids(metrics_dir))
            os.kill(second, signal.SIGKILL)  # uvicorn starts another in its place
            wait_until(
                lambda: second not in alive(worker_pids(metrics_dir)) and answers(),
                timeout_s=60,
                what="the worker replaced",
            )
            assert healthz_count() >= counts[0]  # the killed worker's requests still count
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(
                f"the API did not stop on SIGTERM:\n{log_path.read_text()[-3000:]}"
            ) from None
    assert process.returncode in (0, -signal.SIGTERM), log_path.read_text()[-3000:]
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "sideline.access"]
    traced = [line for line in access if line.get("request_id") == "trace-me-1"]
    assert len(traced) == 1
    assert traced[0]["status"] == 401 and traced[0]["route"] == "/api/v1/me"
    assert {"time", "level", "message", "process"} <= set(traced[0])
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # its lines are JSON too


def alive(pids: set[int]) -> set[int]:
    found = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        found.add(pid)
    return found
