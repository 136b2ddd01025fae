"""The cloud's errors, under one root: :class:`CloudError`.

Two families sit under it:

- **Domain errors** (:class:`DomainError` and its kinds below): a request that
  cannot be carried out, said in the domain's terms. Services raise them with a
  stable machine-readable ``code`` and, where a field is at fault, its path; they
  know nothing of HTTP. The API maps each kind to a status in one table
  (``cloud/api/errors.py``); the CLI prints the message.
- **Infrastructure errors** (the database URL, the broker, the object store, the
  migrations, an export sink): each defined beside the code that raises it,
  subclassing :class:`CloudError` (and the built-in it always was).

A new service that needs a new refusal raises one of the kinds with its own
``code`` (``Conflict(message, code="session_full")``), or subclasses a kind when
callers must catch it by type; docs/api.md says more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CloudError",
    "Conflict",
    "DomainError",
    "FieldProblem",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "Unauthorized",
    "Unavailable",
]


class CloudError(Exception):
    """Root of every error the cloud raises on purpose."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One field at fault: ``body.slug``, ``data.player``, ``query.cursor``."""

    path: str
    code: str  # machine-readable: 'missing', 'too_long', 'not_an_option', ...
    message: str


class DomainError(CloudError):
    """A request the cloud refuses. ``code`` is stable; ``message`` is for people and
    says what went wrong and how to fix it; ``fields`` names the fields at fault."""

    code = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, fields: Sequence[FieldProblem] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.fields = list(fields)


class Unauthorized(DomainError):
    """The caller is not known: no token, a malformed, unknown, revoked or expired one."""

    code = "unauthorized"


class Forbidden(DomainError):
    """The caller is known but their role does not allow this."""

    code = "forbidden"


class NotFound(DomainError):
    """No such thing. Also what another organisation's things look like."""

    code = "not_found"

    def __init__(
        self,
        what: str,
        ident: object = None,
        *,
        path: str | None = None,
        message: str | None = None,
    ) -> None:
        if message is None:
            message = f"{what} {ident} not found" if ident is not None else f"{what} not found"
        fields = [FieldProblem(path=path, code="not_found", message=message)] if path else []
        super().__init__(message, fields=fields)


class Conflict(DomainError):
    """The request is valid but the thing's current state does not allow it."""

    code = "conflict"


class InvalidInput(DomainError):
    """A value the domain refuses (beyond what the request schema already checks)."""

    code = "validation_error"


class Unavailable(DomainError):
    """Something the request needs is down for now; a retry later may succeed."""

    code = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s
