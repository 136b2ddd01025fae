"""One error shape for every failure, with a machine-readable code; and where the
domain's errors become HTTP statuses.

Every error the API returns is ``{"error": {"code", "message", "fields"}}``;
``fields`` names the field paths of a validation error (``body.fields[2].options``,
``data.player``, ``query.cursor``). Services raise the domain errors of
:mod:`cloud.errors`; :data:`HTTP_STATUS` below is the one place that says which
status each kind is, and the handlers turn them (and FastAPI's own validation
and routing errors) into that shape.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from peewee import InterfaceError, OperationalError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unavailable,
)

__all__ = [
    "HTTP_STATUS",
    "ErrorBody",
    "ErrorResponse",
    "FieldError",
    "install_error_handlers",
    "path_of",
    "register_union_tags",
    "status_of",
]

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    path: str = Field(description="Where: 'body.max_participants', 'data.player', 'query.cursor'.")
    code: str = Field(description="Machine-readable: 'missing', 'too_long', 'not_an_option', ...")
    message: str


class ErrorBody(BaseModel):
    code: str = Field(
        description="Machine-readable: unauthorized, forbidden, not_found, validation_error, "
        "invalid_transition, session_full, ... (see docs/api.md)."
    )
    message: str = Field(description="What went wrong and how to fix it, for people.")
    fields: list[FieldError] = Field(
        default_factory=list, description="Per-field problems (validation errors)."
    )


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx response."""

    error: ErrorBody


# The one mapping from a domain error's kind to its HTTP status. A subclass of a
# kind gets its kind's status; a new kind (a direct subclass of DomainError) needs
# a line here, which tests/cloud/api/test_errors.py checks.
HTTP_STATUS: dict[type[DomainError], int] = {
    DomainError: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    Unavailable: 503,
}


def status_of(error: DomainError) -> int:
    for kind in type(error).__mro__:
        if issubclass(kind, DomainError) and kind in HTTP_STATUS:
            return HTTP_STATUS[kind]
    return HTTP_STATUS[DomainError]


def _headers_of(error: DomainError) -> dict[str, str] | None:
    if isinstance(error, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(error, Unavailable) and error.retry_after_s is not None:
        return {"Retry-After": str(error.retry_after_s)}
    return None


def path_of(location: Iterable[int | str]) -> str:
    """``('body', 'fields', 2, 'options')`` -> ``body.fields[2].options``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_UNION_TAGS: set[str] = set()


def register_union_tags(tags: Iterable[str]) -> None:
    """Tags of discriminated unions in request bodies (e.g. form field types).

    pydantic puts the chosen tag into an error's location (``fields.0.text.key``);
    clients want the data path (``fields[0].key``), so a registered tag right
    after a list index is left out.
    """
    _UNION_TAGS.update(tags)


def _data_path(location: Sequence[Any]) -> list[Any]:
    kept: list[Any] = []
    for part in location:
        if _is_union_tag(part):
            continue
        if part in _UNION_TAGS and kept and isinstance(kept[-1], int):
            continue
        kept.append(part)
    return kept


def _validation_fields(errors: Sequence[Any]) -> list[FieldProblem]:
    fields = []
    for error in errors:
        location = _data_path(error.get("loc", ()))
        fields.append(
            FieldProblem(
                path=path_of(location),
                code=str(error.get("type", "invalid")),
                message=str(error.get("msg", "invalid value")),
            )
        )
    return fields


def _is_union_tag(part: object) -> bool:
    # pydantic puts the chosen member of a tagged union in the location
    # ("function-after[...]" or the tag itself); clients want the data path.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _response(
    status: int,
    code: str,
    message: str,
    fields: Sequence[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            code=code,
            message=message,
            fields=[FieldError(path=f.path, code=f.code, message=f.message) for f in fields],
        )
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        return _response(status, exc.code, exc.message, exc.fields, _headers_of(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _validation_fields(exc.errors())
        where = ", ".join(field.path for field in fields[:5])
        return _response(422, InvalidInput.code, f"invalid request: {where}", fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return _response(exc.status_code, code, message)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if not _database_unavailable(exc):
            return _internal_error(request)
        # The server is restarting, failing over or refusing connections, or SQLite
        # is busy: a retry shortly will do (a dropped connection is replaced on its
        # next use).
        log.error("%s %s: database unavailable: %s", request.method, request.url.path, exc)
        return _response(
            503,
            "database_unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request)


def _internal_error(request: Request) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return _response(500, "internal_error", "internal error; it has been logged")


def _database_unavailable(exc: Exception) -> bool:
    """A database error that waiting cures. PostgreSQL's OperationalErrors are all
    about the server or the connection (lost, refused, cancelled, deadlocked);
    SQLite uses OperationalError for mistakes in SQL too, so only "locked" and
    "busy" count there. peewee keeps the driver's exception as ``orig``."""
    if isinstance(exc, InterfaceError):
        return True
    driver = getattr(exc, "orig", exc)
    if isinstance(driver, sqlite3.Error):
        text = str(driver).lower()
        return "locked" in text or "busy" in text
    return True
