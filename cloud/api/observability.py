"""What the API tells an operator: request metrics, request ids, liveness and readiness.

* :class:`RequestObserver`, a plain ASGI middleware (nothing buffered, a few
  microseconds a request): a request id for every request (the caller's
  ``X-Request-ID`` when it is a sane token, else a new one; returned in the
  response's ``X-Request-ID`` and carried by every log line of the request),
  ``sideline_api_requests_total`` and ``sideline_api_request_duration_seconds``
  by route template, method and status, the requests in progress, and one
  access-log line per request.
* ``GET /healthz``: the process answers (touches nothing else).
* ``GET /readyz``: the database answers with the current schema and the broker
  connection is up, within ``health.timeout_s`` (``cloud.observability.health``);
  503 with the reasons otherwise.
* ``GET /metrics``: Prometheus' text format, every worker's figures summed under
  ``--workers N`` (``cloud.observability.metrics``). Not in the OpenAPI document
  on purpose: it is for Prometheus, not for API clients, and the reverse proxy
  does not route it from outside.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel

from cloud.api.runtime import ApiRuntime
from cloud.observability.metrics import CONTENT_TYPE, exposition
from core import __version__
from core.logcontext import bind, unbind
from protocol import PROTOCOL_VERSION

__all__ = ["RequestObserver", "ops_router"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("sideline.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUESTS = Counter(
    "sideline_api_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "sideline_api_request_duration_seconds",
    "From the request reaching the app to the last byte of its response, by route template.",
    ["method", "route"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
IN_PROGRESS = Gauge(
    "sideline_api_requests_in_progress",
    "Requests being handled now (all workers).",
    multiprocess_mode="livesum",
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_UNMATCHED = "unmatched"  # a path no route has: one series, whatever was asked
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})  # probes: DEBUG, not INFO


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return str(text)
            break
    return secrets.token_hex(8)


class RouteTemplates:
    """The full path template of the route that handled a request (``/api/v1/orgs/{org}/
    sessions``), for metric labels: ``scope["route"]`` is the route as its own router
    declared it, without the prefixes of the routers it was included under."""

    def __init__(self) -> None:
        self._by_route: dict[int, tuple[object, str]] = {}
        self._app: Any = None

    def template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return _UNMATCHED
        known = self._by_route.get(id(route))
        if known is None or known[0] is not route:
            self._learn(scope.get("app"))
            known = self._by_route.get(id(route))
        if known is not None and known[0] is route:
            return known[1]
        return str(getattr(route, "path", _UNMATCHED))

    def _learn(self, app: Any) -> None:
        routes = getattr(app, "routes", None)
        if routes is None or app is self._app:
            return
        self._app = app
        for context in iter_route_contexts(routes):
            path = context.path or str(getattr(context.original_route, "path", _UNMATCHED))
            self._by_route[id(context.original_route)] = (context.original_route, path)


class RequestObserver:
    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        header = (b"x-request-id", request_id.encode())
        status = 500  # what the client sees if the app fails before answering
        recorded = False
        started = time.perf_counter()

        async def answering(message: Message) -> None:
            nonlocal status, recorded
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif kind == "http.response.body" and not message.get("more_body", False):
                # Counted before the last byte leaves: a client that reads its answer
                # and then scrapes /metrics finds its request there.
                recorded = True
                self._record(scope, status, time.perf_counter() - started)
            await send(message)

        token = bind(request_id=request_id)
        IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, answering)
        finally:
            IN_PROGRESS.dec()
            if not recorded:
                self._record(scope, status, time.perf_counter() - started)
            unbind(token)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        template = self.templates.template(scope)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        REQUESTS.labels(method, template, str(status)).inc()
        DURATION.labels(method, template).observe(elapsed)
        if not self.access_log:
            return
        level = logging.DEBUG if template in _QUIET_ROUTES else logging.INFO
        if access_log.isEnabledFor(level):
            client = scope.get("client")
            access_log.log(
                level,
                "%s %s %d %.1f ms",
                method,
                scope["path"],
                status,
                elapsed * 1000,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client[0] if client else None,
                },
            )


# -- the routes ------------------------------------------------------------------------


class Liveness(BaseModel):
    status: Literal["ok"]
    version: str
    protocol: int


class DependencyState(BaseModel):
    name: str
    ok: bool
    detail: str
    seconds: float


class ReadinessState(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: list[DependencyState]


ops_router = APIRouter(tags=["operations"])


@ops_router.get("/healthz")
async def healthz() -> Liveness:
    """Liveness: the process answers. Checks no dependency (a slow database must not
    get a healthy process restarted)."""
    return Liveness(status="ok", version=__version__, protocol=PROTOCOL_VERSION)


@ops_router.get(
    "/readyz",
    response_model=ReadinessState,
    responses={
        503: {
            "model": ReadinessState,
            "description": "A dependency is not usable: each failing check says why.",
        }
    },
)
def readyz(request: Request) -> Response:
    """Readiness: the database answers with the schema this code needs and the broker
    connection is up. Answers within the configured ``health.timeout_s`` whatever a
    dependency does."""
    runtime: ApiRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        body = {"status": "unavailable", "checks": []}
        return JSONResponse(body, status_code=503)
    report = runtime.readiness().report()
    return JSONResponse(report.as_json(), status_code=200 if report.ready else 503)


@ops_router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE)
