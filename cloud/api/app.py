"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from cloud.config import CloudConfig
from protocol import PROTOCOL_VERSION
from sideline import __version__

__all__ = ["create_app"]


class Health(BaseModel):
    status: str
    version: str
    protocol: int


def create_app(config: CloudConfig) -> FastAPI:
    app = FastAPI(
        title="Sideline API",
        version=__version__,
        description="Sessions, bookings, attendance and the timeline of logs and clips.",
    )
    app.state.config = config

    @app.get("/api/v1/health", tags=["health"])
    def health() -> Health:
        """Liveness: the API process answers."""
        return Health(status="ok", version=__version__, protocol=PROTOCOL_VERSION)

    return app
