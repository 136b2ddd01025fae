"""``sideline cloud org|team|user|member|token`` and ``sideline cloud api`` as a process."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cloud.db import open_database
from cloud.migrations import migrate
from sideline.cli import app
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.process import free_port
from tests.cloud.api.conftest import empty_tables
from tests.fixtures.services import MQTT_ADMIN
from tests.procs import child_env, sideline_argv

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.db'}"  # created and migrated by the command
        return
    url = str(request.getfixturevalue("cloud_postgres_url"))
    yield url
    database = open_database(url)
    empty_tables(database)
    database.close()


def _run(url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["cloud", *args, "--database-url", url])
    return result.exit_code, result.stdout, result.stderr


def test_admin_commands_create_the_accounts_and_a_working_token(database_url: str) -> None:
    assert _run(database_url, "org", "create", "riverside", "--name", "Riverside FC")[0] == 0
    assert _run(database_url, "team", "create", "U12", "--org", "riverside")[0] == 0
    assert _run(database_url, "user", "create", "Coach@Riverside.example", "--name", "Kim")[0] == 0
    code, out, _ = _run(
        database_url,
        "member",
        "add",
        "--org",
        "riverside",
        "--email",
        "coach@riverside.example",
        "--role",
        "coach",
    )
    assert code == 0 and "coach of riverside" in out
    code, out, err = _run(
        database_url,
        "token",
        "create",
        "--org",
        "riverside",
        "--email",
        "coach@riverside.example",
        "--name",
        "phone",
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("sl_") and token[:10] in err
    from cloud.api.services.auth import authenticate

    principal = authenticate(open_database(database_url), token)
    assert (principal.org.slug, principal.user.email, principal.membership.role) == (
        "riverside",
        "coach@riverside.example",
        "coach",
    )


MISTAKES: list[tuple[list[str], str]] = [
    (
        [
            "member",
            "add",
            "--org",
            "nowhere",
            "--email",
            "a@b.c",
            "--role",
            "coach",
            "--name",
            "A",
        ],
        "no organisation 'nowhere'",
    ),
    (
        [
            "member",
            "add",
            "--org",
            "riverside",
            "--email",
            "a@b.c",
            "--role",
            "boss",
            "--name",
            "A",
        ],
        "owner, admin, coach",
    ),
    (["token", "create", "--org", "riverside", "--email", "stranger@b.c"], "no user"),
    (["org", "create", "riverside", "--name", "Again"], "already exists"),
    (["org", "create", "bad/slug", "--name", "X"], "letter or digit"),
]


@pytest.mark.parametrize(("args", "message"), MISTAKES, ids=[c[1] for c in MISTAKES])
def test_admin_mistakes_are_explained_without_a_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    _run(url, "org", "create", "riverside", "--name", "Riverside FC")
    result = runner.invoke(app, ["cloud", *args, "--database-url", url])
    assert result.exit_code == 2, args
    assert message in result.output, result.output
    assert "Traceback" not in result.output


def test_sideline_cloud_api_serves_the_api(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(open_database(url))
    for args in (
        ["org", "create", "riverside", "--name", "Riverside"],
        [
            "member",
            "add",
            "--org",
            "riverside",
            "--email",
            "kim@r.example",
            "--role",
            "owner",
            "--name",
            "Kim",
        ],
    ):
        assert _run(url, *args)[0] == 0
    token = _run(url, "token", "create", "--org", "riverside", "--email", "kim@r.example")[
        1
    ].strip()
    port = free_port()
    env = child_env(
        SIDELINE_CLOUD_DATABASE_URL=url,
        SIDELINE_CLOUD_MQTT__HOST=mosquitto.host,
        SIDELINE_CLOUD_MQTT__PORT=str(mosquitto.port),
        SIDELINE_CLOUD_MQTT__USERNAME=MQTT_ADMIN[0],
        SIDELINE_CLOUD_MQTT__PASSWORD=MQTT_ADMIN[1],
    )
    process = subprocess.Popen(
        sideline_argv("cloud", "api", "--port", str(port)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the API did not answer"
            time.sleep(0.2)
        # Generous timeouts: bounds against a hang, not figures (the first /openapi.json
        # builds the whole document, seconds on a loaded machine).
        me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert me.status_code == 200 and me.json()["organisation"]["slug"] == "riverside"
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=30).json()
        assert "/api/v1/orgs/{org}/sessions/{session_id}/timeline" in spec["paths"]
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    # uvicorn re-raises the SIGTERM after a clean shutdown.
    assert process.returncode in (0, -15), output
    assert "Application shutdown complete" in output
