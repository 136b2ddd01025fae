"""The operations endpoint of a process without an HTTP API (the ingest, the jobs runner):
``GET /healthz``, ``GET /readyz`` and ``GET /metrics`` on a port of its own.

The stdlib's threading server: a few requests a minute from a load balancer and
Prometheus, each answered in milliseconds (readiness is bounded by its own
timeout), on threads that never touch the worker's own.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloud.observability.health import Readiness
from cloud.observability.metrics import CONTENT_TYPE, exposition

__all__ = ["OpsServer"]

log = logging.getLogger(__name__)

Liveness = Callable[[], tuple[bool, str]]
"""(alive, what is wrong if not)."""


class OpsServer:
    def __init__(
        self, host: str, port: int, *, readiness: Readiness, liveness: Liveness, name: str
    ) -> None:
        self.readiness = readiness
        self.liveness = liveness
        self.name = name
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.5}, name="ops-http"
        )
        self._thread.daemon = True
        self._thread.start()
        log.info("%s: /healthz, /readyz and /metrics on %s", self.name, self.address)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_OpsHandler,), {"ops": self})


class _OpsHandler(BaseHTTPRequestHandler):
    ops: OpsServer
    server_version = "sideline"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                alive, problem = self.ops.liveness()
                body = {"status": "ok"} if alive else {"status": "failing", "detail": problem}
                self._json(HTTPStatus.OK if alive else HTTPStatus.SERVICE_UNAVAILABLE, body)
            elif path == "/readyz":
                report = self.ops.readiness.report()
                status = HTTPStatus.OK if report.ready else HTTPStatus.SERVICE_UNAVAILABLE
                self._json(status, report.as_json())
            elif path == "/metrics":
                self._send(HTTPStatus.OK, exposition(), CONTENT_TYPE)
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no route {path}"})
        except Exception:  # never let a probe take the endpoint down
            log.exception("ops endpoint: GET %s failed", path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("ops %s - %s", self.client_address[0], format % args)
