"""Share links a coach makes for a clip or a playlist: create, list, withdraw."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, status

from cloud.api.access.scope import OrgScope
from cloud.api.deps import CoachScope, DatabaseDep, RuntimeDep, ShareSignerDep, org_scope
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.playlists import ShareLinkCreate, ShareLinkPublic, ShareLinksPublic
from cloud.api.services import sharing as service
from cloud.models import ShareLink

router = APIRouter(prefix="/share-links", route_class=DocumentedRoute, tags=["sharing"])


def link_in_org(
    scope: Annotated[OrgScope, Depends(org_scope)], link_id: Annotated[UUID, Path()]
) -> ShareLink:
    return service.get_link(scope=scope, link_id=link_id)


LinkInOrg = Annotated[ShareLink, Depends(link_in_org)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_link(
    scope: CoachScope,
    db: DatabaseDep,
    runtime: RuntimeDep,
    signer: ShareSignerDep,
    request: Request,
    data: ShareLinkCreate,
) -> ShareLinkPublic:
    """A signed, expiring, read-only link to one clip or one playlist, for players
    without an account: it opens a page that plays it (on a phone too) and shows
    nothing else of the organisation. ``url`` is shown only now; withdraw it with
    DELETE."""
    link, token = service.create_link(
        db, scope=scope, data=data, settings=runtime.settings.sharing, signer=signer
    )
    return service.link_public(link, url=str(request.url_for("share_page", token=token)))


@router.get("")
def list_links(scope: CoachScope) -> ShareLinksPublic:
    links = service.list_links(scope=scope)
    return ShareLinksPublic(data=[service.link_public(link) for link in links], count=len(links))


@router.delete("/{link_id}")
def revoke_link(scope: CoachScope, db: DatabaseDep, link: LinkInOrg) -> ShareLinkPublic:
    """Withdraw it: the page stops working at once (video URLs it handed out last at
    most 15 minutes more)."""
    return service.link_public(service.revoke_link(db, scope=scope, link=link))
