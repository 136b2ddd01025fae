"""Pushing a timeline to the embeddings sink: a directory, and a webhook on a real local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.export.sinks import DirectorySink, WebhookSink
from cloud.api.runtime import ApiRuntime
from cloud.models import Clip, Role, utc_now
from tests.cloud.api.world import World, auth, build_world, make_log


@dataclass
class Receiver:
    """A real HTTP server that records POSTed batches; ``fail_first`` answers 503 first."""

    url: str = ""
    batches: list[tuple[dict[str, str], list[dict[str, object]]]] = field(default_factory=list)
    fail_first: int = 0
    status: int = 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.fail_first > 0:
                state.fail_first -= 1
                self.send_response(503)
            else:
                lines = [json.loads(line) for line in body.splitlines()]
                state.batches.append(({k.lower(): v for k, v in self.headers.items()}, lines))
                self.send_response(state.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/embed"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _embed(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/timeline/embed"


def test_without_a_sink_embedding_is_503(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    response = client.post(_embed(world), headers=auth(world.tokens[Role.COACH]))
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_sink"


def test_the_directory_sink_mirrors_the_timeline(
    db: Database, client: TestClient, runtime: ApiRuntime, tmp_path: Path
) -> None:
    runtime.sink = DirectorySink(tmp_path)
    world = build_world(db, "alpha")
    coach = auth(world.tokens[Role.COACH])
    pushed = client.post(_embed(world), headers=coach).json()
    folder = tmp_path / "alpha" / str(world.session.id)
    assert pushed == {"sink": "directory", "documents": 4, "batches": 1, "location": str(folder)}
    timeline = client.get(
        f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}/timeline", headers=coach
    ).json()
    files = {path.name for path in folder.glob("*.json")}
    assert files == {f"{item['id']}.json" for item in timeline["data"]}
    assert json.loads((folder / f"{world.clip.id}.json").read_text())["item"]["type"] == "clip"
    assert len((folder / "timeline.jsonl").read_text().splitlines()) == 4
    # A clip deleted since the last push leaves the index on the next one.
    Clip.update(deleted_at=utc_now()).where(Clip.id == world.clip.id).execute()
    client.post(_embed(world), headers=coach)
    assert not (folder / f"{world.clip.id}.json").exists()
    assert len(list(folder.glob("*.json"))) == 3


def test_the_webhook_sink_posts_batches_and_retries(
    db: Database, client: TestClient, runtime: ApiRuntime, receiver: Receiver
) -> None:
    runtime.sink = WebhookSink(receiver.url, token="sink-secret", batch_size=3, retries=2)
    world = build_world(db, "alpha")
    for number in range(5):
        make_log(world.org, world.session, type=f"m{number}")
    receiver.fail_first = 1  # the first attempt is refused, the retry goes through
    pushed = client.post(_embed(world), headers=auth(world.tokens[Role.COACH]))
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["documents"] == 9 and pushed.json()["batches"] == 3
    headers = [h for h, _ in receiver.batches]
    assert [h["x-sideline-batch"] for h in headers] == ["0", "1", "2"]
    assert [h["x-sideline-last"] for h in headers] == ["false", "false", "true"]
    assert len({h["x-sideline-push"] for h in headers}) == 1
    assert headers[0]["authorization"] == "Bearer sink-secret"
    assert headers[0]["x-sideline-session"] == str(world.session.id)
    documents = [doc for _, batch in receiver.batches for doc in batch]
    assert len({doc["id"] for doc in documents}) == 9


def test_a_refusing_webhook_is_reported_not_retried(
    db: Database, client: TestClient, runtime: ApiRuntime, receiver: Receiver
) -> None:
    runtime.sink = WebhookSink(receiver.url, retries=3)
    receiver.status = 400
    world = build_world(db, "alpha")
    response = client.post(_embed(world), headers=auth(world.tokens[Role.COACH]))
    assert response.status_code == 503 and response.json()["error"]["code"] == "sink_failed"
    assert "HTTP 400" in response.json()["error"]["message"]
    assert len(receiver.batches) == 1  # no retry on a 4xx
