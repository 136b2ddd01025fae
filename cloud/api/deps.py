"""Typed dependencies: the database, the caller, their organisation and role,
and the org-scoped resources routes act on.

Dependencies that only look at what an earlier one found are ``async`` (no
thread hop); those that query the database are plain functions, which FastAPI
runs in its thread pool.

Scoping cannot be forgotten: every organisation route lives under
``/orgs/{org}`` on a router whose own dependency resolves the caller's scope
(404 for any organisation but the token's), services take that scope as a
required keyword argument, and resources named in the path (``SessionInOrg``,
``FormInOrg``, ...) are looked up through it. The role a route needs is the
scope alias it declares (``MemberScope``, ``CoachScope``, ...); the OpenAPI
document states it for every operation (``x-min-role``).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from peewee import Database

from cloud.api.access.scope import OrgScope, Principal
from cloud.api.access.sharing import ShareSigner
from cloud.api.config import TaggingConfig
from cloud.api.export.sinks import EmbeddingsSink
from cloud.api.runtime import ApiRuntime
from cloud.api.services import availability as availability_service
from cloud.api.services import bookings as booking_service
from cloud.api.services import forms as form_service
from cloud.api.services import series as series_service
from cloud.api.services import sessions as session_service
from cloud.api.services.auth import authenticate
from cloud.api.services.references import host_in_org, team_in_org
from cloud.db import database_proxy
from cloud.devices.control import DeviceControl
from cloud.errors import Forbidden, NotFound, Unauthorized
from cloud.models import (
    ROLE_RANK,
    AvailabilityOverride,
    Booking,
    FormTemplate,
    MeetingSlot,
    Role,
    Session,
    SessionSeries,
    Team,
    User,
)
from cloud.object_store import ClipUrlSigner

__all__ = [
    "AdminScope",
    "BookingInOrg",
    "CoachScope",
    "ControlDep",
    "CurrentPrincipal",
    "DatabaseDep",
    "FormInOrg",
    "GuestScope",
    "HostInOrg",
    "MemberScope",
    "OverrideInOrg",
    "OwnerScope",
    "RoleRequirement",
    "RuntimeDep",
    "SecretDep",
    "SeriesInOrg",
    "SessionInOrg",
    "ShareSignerDep",
    "SignerDep",
    "SinkDep",
    "SlotInOrg",
    "TaggingDep",
    "TeamInOrg",
    "org_scope",
]


async def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:  # pragma: no cover - only if the lifespan did not run
        raise RuntimeError("the API runtime is not started")
    return runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]


async def get_database(runtime: RuntimeDep) -> Database:
    """The database the models are bound to (``cloud.db.database_proxy``).

    Normally the runtime's own; should something in the process rebind the
    models (a test running an ingest worker beside the API), transactions must
    still be opened on the database the models' queries go to, or a thread
    would wait on its own second connection.
    """
    bound = database_proxy.obj
    return bound if bound is not None else runtime.database


async def get_control(runtime: RuntimeDep) -> DeviceControl:
    return runtime.control


async def get_signer(runtime: RuntimeDep) -> ClipUrlSigner:
    return runtime.signer


async def get_sink(runtime: RuntimeDep) -> EmbeddingsSink | None:
    return runtime.sink


async def get_tagging(runtime: RuntimeDep) -> TaggingConfig:
    return runtime.settings.tagging


async def get_share_signer(runtime: RuntimeDep, db: DatabaseDep) -> ShareSigner:
    if runtime.share_signer is None:
        runtime.share_signer = ShareSigner(db)
    return runtime.share_signer


DatabaseDep = Annotated[Database, Depends(get_database)]
ControlDep = Annotated[DeviceControl, Depends(get_control)]
SignerDep = Annotated[ClipUrlSigner, Depends(get_signer)]
SinkDep = Annotated[EmbeddingsSink | None, Depends(get_sink)]
TaggingDep = Annotated[TaggingConfig, Depends(get_tagging)]
ShareSignerDep = Annotated[ShareSigner, Depends(get_share_signer)]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: `Authorization: Bearer sl_…` (create one with "
    "`sideline cloud token create` or POST /orgs/{org}/tokens).",
)


def current_principal(
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API token: 'Authorization: Bearer sl_…'")
    return authenticate(db, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def org_scope(
    principal: CurrentPrincipal,
    org: Annotated[str, Path(description="The organisation's slug.", max_length=64)],
) -> OrgScope:
    """The caller's scope within ``{org}``: 404 unless it is the token's organisation."""
    if principal.org.slug != org:
        raise NotFound("organisation", org)
    return OrgScope(
        org=principal.org,
        user=principal.user,
        role=Role(principal.membership.role),
        token_id=principal.token.id,
    )


class RoleRequirement:
    """A dependency that lets through callers with at least ``role`` in the org."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, scope: Annotated[OrgScope, Depends(org_scope)]) -> OrgScope:
        if ROLE_RANK[scope.role] < ROLE_RANK[self.role]:
            raise Forbidden(
                f"this needs the {self.role.value} role or higher; you are {scope.role.value}"
            )
        return scope

    def __repr__(self) -> str:
        return f"RoleRequirement({self.role.value})"


GuestScope = Annotated[OrgScope, Depends(RoleRequirement(Role.GUEST))]
MemberScope = Annotated[OrgScope, Depends(RoleRequirement(Role.MEMBER))]
CoachScope = Annotated[OrgScope, Depends(RoleRequirement(Role.COACH))]
AdminScope = Annotated[OrgScope, Depends(RoleRequirement(Role.ADMIN))]
OwnerScope = Annotated[OrgScope, Depends(RoleRequirement(Role.OWNER))]


def session_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], session_id: Annotated[UUID, Path()]
) -> Session:
    return session_service.get_session(scope=scope, session_id=session_id)


def form_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], form_id: Annotated[UUID, Path()]
) -> FormTemplate:
    return form_service.get_form(scope=scope, form_id=form_id)


def team_path_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], team_id: Annotated[UUID, Path()]
) -> Team:
    return team_in_org(scope=scope, team_id=team_id, path="path.team_id")


SessionInOrg = Annotated[Session, Depends(session_in_org)]
FormInOrg = Annotated[FormTemplate, Depends(form_in_org)]
TeamInOrg = Annotated[Team, Depends(team_path_in_org)]


def series_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], series_id: Annotated[UUID, Path()]
) -> SessionSeries:
    return series_service.get_series(scope=scope, series_id=series_id)


SeriesInOrg = Annotated[SessionSeries, Depends(series_in_org)]


def slot_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], slot_id: Annotated[UUID, Path()]
) -> MeetingSlot:
    return availability_service.get_slot(scope=scope, slot_id=slot_id)


def override_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], override_id: Annotated[UUID, Path()]
) -> AvailabilityOverride:
    return availability_service.get_override(scope=scope, override_id=override_id)


def booking_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], booking_id: Annotated[UUID, Path()]
) -> Booking:
    return booking_service.get_booking(scope=scope, booking_id=booking_id)


def host_path_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], host_id: Annotated[UUID, Path()]
) -> User:
    return host_in_org(scope=scope, user_id=host_id, path="path.host_id")


async def get_secret(runtime: RuntimeDep) -> bytes:
    """The key signed links are made with (``api.secret_key``)."""
    return runtime.settings.secret_key.get_secret_value().encode()


SlotInOrg = Annotated[MeetingSlot, Depends(slot_in_org)]
OverrideInOrg = Annotated[AvailabilityOverride, Depends(override_in_org)]
BookingInOrg = Annotated[Booking, Depends(booking_in_org)]
HostInOrg = Annotated[User, Depends(host_path_in_org)]
SecretDep = Annotated[bytes, Depends(get_secret)]
