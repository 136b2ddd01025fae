"""Returning a response model as JSON without FastAPI's second pass over it.

For a plain ``def`` handler FastAPI validates the returned model again in a
thread-pool hop before serialising it. The hot listings (timeline, sessions)
build their models from database rows already, so they return the JSON
directly; their routes still declare ``response_model`` for OpenAPI.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel

__all__ = ["model_response"]


def model_response(model: BaseModel, *, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
