"""The FastAPI application factory.

``create_app(config)`` is what ``sideline cloud api`` serves: its lifespan opens
the database and connects to the broker (:func:`cloud.api.runtime.build_runtime`).
Tests and benchmarks pass a ready :class:`ApiRuntime` instead, which they own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cloud.api.errors import install_error_handlers
from cloud.api.observability import RequestObserver, ops_router
from cloud.api.routes import api_router, page_router
from cloud.api.runtime import ApiRuntime, build_runtime
from cloud.config import CloudConfig
from core import __version__
from protocol import PROTOCOL_VERSION

__all__ = ["create_app"]

_DESCRIPTION = """\
Sessions, registrations and attendance, form templates, logs, clips and each
session's timeline, for the organisation an API token belongs to.

Authenticate with `Authorization: Bearer <token>`. Everything of an
organisation is under `/api/v1/orgs/{org}` (the organisation's slug); anything
of another organisation answers 404. Every error has the body
`{"error": {"code", "message", "fields"}}`. Each operation states the role it
needs (`x-min-role`). See docs/api.md.
"""


class Health(BaseModel):
    status: str
    version: str
    protocol: int


def create_app(config: CloudConfig, *, runtime: ApiRuntime | None = None) -> FastAPI:
    """The app. With ``runtime`` (or one set on ``app.state.runtime`` before it
    starts) the caller owns the database and the edges; otherwise the app builds
    them from ``config`` when it starts and closes them when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.runtime is not None:
            yield  # provided by the caller, who closes it
            return
        built = await run_in_threadpool(build_runtime, config)
        app.state.runtime = built
        try:
            yield
        finally:
            app.state.runtime = None
            await run_in_threadpool(built.close)

    app = FastAPI(
        title="Sideline API",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.get("/api/v1/health", tags=["health"])
    def health() -> Health:
        """Liveness: the API process answers."""
        return Health(status="ok", version=__version__, protocol=PROTOCOL_VERSION)

    app.include_router(ops_router)
    app.include_router(api_router)
    app.include_router(page_router)
    # Added last, so outermost: every request has its id and is counted, errors included.
    app.add_middleware(RequestObserver, access_log=config.api.access_log)
    return app
