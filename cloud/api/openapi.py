"""Make the OpenAPI document state every operation's errors and required role.

Derived from each route's dependencies, so the document cannot drift from
what the code does: a route that authenticates documents 401; one that needs
more than the lowest role documents 403 and ``x-min-role``; one under an
organisation or naming a resource documents 404; one with parameters or a body
documents 422. Every error uses :class:`cloud.api.errors.ErrorResponse`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field

from cloud.api.deps import RoleRequirement, current_principal, get_database, org_scope
from cloud.api.errors import ErrorResponse
from cloud.models import ROLE_RANK, Role

__all__ = ["DocumentedRoute", "minimum_role"]

_DESCRIPTIONS = {
    401: "No token, or an unknown, expired or revoked one (unauthorized).",
    403: "Your role in the organisation is below what this needs (forbidden).",
    404: "No such organisation or resource for you: another organisation's things "
    "are never shown (not_found).",
    409: "The resource's current state does not allow this (see the code).",
    422: "Invalid input; `fields` names each field path (validation_error).",
    503: "A service this needs is unavailable: the database (database_unavailable; "
    "retry after Retry-After seconds) or the one the code names.",
}


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def minimum_role(route: APIRoute) -> Role | None:
    roles = [call.role for call in _calls(route.dependant) if isinstance(call, RoleRequirement)]
    return max(roles, key=lambda role: ROLE_RANK[role]) if roles else None


def _has_input(dependant: Dependant) -> bool:
    if dependant.query_params or dependant.path_params or dependant.body_params:
        return True
    return any(_has_input(sub) for sub in dependant.dependencies)


def _has_path_params(dependant: Dependant) -> bool:
    return bool(dependant.path_params) or any(_has_path_params(d) for d in dependant.dependencies)


class DocumentedRoute(APIRoute):
    """An ``APIRoute`` whose OpenAPI operation lists the errors its dependencies can raise."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        calls = list(_calls(self.dependant))
        codes = {code for code in self.responses if isinstance(code, int) and code >= 400}
        if current_principal in calls:
            codes.add(401)
        role = minimum_role(self)
        if role is not None:
            self.openapi_extra = {**(self.openapi_extra or {}), "x-min-role": role.value}
            if ROLE_RANK[role] > min(ROLE_RANK.values()):
                codes.add(403)
            self.description = (
                f"Requires the **{role.value}** role or higher.\n\n{self.description}"
            )
        if org_scope in calls or _has_path_params(self.dependant):
            codes.add(404)
        if _has_input(self.dependant):
            codes.add(422)
        if get_database in calls:
            codes.add(503)
        for code in sorted(codes):
            given = self.responses.get(code, {})
            self.responses[code] = {
                **given,
                "model": ErrorResponse,
                "description": given.get("description") or _DESCRIPTIONS.get(code, "Error."),
            }
            self.response_fields[code] = create_model_field(
                name=f"Response_{code}_{self.unique_id}", type_=ErrorResponse, mode="serialization"
            )
