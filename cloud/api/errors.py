"""One error shape for every failure, with a machine-readable code.

Every error the API returns is ``{"error": {"code", "message", "fields"}}``;
``fields`` names the field paths of a validation error (``body.fields[2].options``,
``data.player``, ``query.cursor``). Services raise :class:`ApiError`
subclasses; the handlers below turn them (and FastAPI's own validation and
routing errors) into that shape.
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

__all__ = [
    "ApiError",
    "Conflict",
    "ErrorBody",
    "ErrorResponse",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "ServiceUnavailable",
    "Unauthorized",
    "install_error_handlers",
    "path_of",
    "register_union_tags",
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


class ApiError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.fields = list(fields)
        self.headers = headers

    def body(self) -> ErrorResponse:
        return ErrorResponse(
            error=ErrorBody(code=self.code, message=self.message, fields=self.fields)
        )


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    """Also what another organisation's things look like: they do not exist for you."""

    status_code = 404
    code = "not_found"

    def __init__(self, what: str, ident: object = None, *, path: str | None = None) -> None:
        message = f"{what} {ident} not found" if ident is not None else f"{what} not found"
        fields = [FieldError(path=path, code="not_found", message=message)] if path else []
        super().__init__(message, fields=fields)


class Conflict(ApiError):
    """The request is valid but the thing's current state does not allow it."""

    status_code = 409
    code = "conflict"


class InvalidInput(ApiError):
    status_code = 422
    code = "validation_error"


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "unavailable"


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


def _validation_fields(errors: Sequence[Any]) -> list[FieldError]:
    fields = []
    for error in errors:
        location = _data_path(error.get("loc", ()))
        fields.append(
            FieldError(
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


def _response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error.body().model_dump(mode="json"), status_code=error.status_code, headers=error.headers
    )


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        if exc.status_code >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        return _response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _validation_fields(exc.errors())
        where = ", ".join(field.path for field in fields[:5])
        return _response(InvalidInput(f"invalid request: {where}", fields=fields))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        error = ApiError(message, code=code)
        error.status_code = exc.status_code
        return _response(error)

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
            ServiceUnavailable(
                "the database is unavailable; retry shortly",
                code="database_unavailable",
                headers={"Retry-After": "2"},
            )
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request)


def _internal_error(request: Request) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    error = ApiError("internal error; it has been logged", code="internal_error")
    error.status_code = 500
    return _response(error)


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
