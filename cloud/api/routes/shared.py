"""What a share link opens, without an account: the page, its data, its clips.

The token is the only credential; nothing here takes an API token or names the
organisation. Every answer says ``Referrer-Policy: no-referrer`` (the token is
in the URL) and ``Cache-Control: no-store``; the page has a strict CSP.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response
from fastapi.responses import FileResponse, HTMLResponse

from cloud.api.deps import DatabaseDep, ShareSignerDep, SignerDep
from cloud.api.openapi import DocumentedRoute
from cloud.api.schemas.playlists import SharedClip, SharedView
from cloud.api.services import sharing as service

__all__ = ["page_router", "router"]

PAGE_DIR = FilePath(__file__).resolve().parent.parent / "share_page"
Token = Annotated[str, Path(min_length=10, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]

_PRIVATE = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src * data:; media-src * blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

router = APIRouter(prefix="/share", route_class=DocumentedRoute, tags=["sharing"])
page_router = APIRouter(include_in_schema=False)


def _private(response: Response) -> None:
    response.headers.update(_PRIVATE)


@router.get("/{token}")
def open_share(
    token: Token, db: DatabaseDep, signer: ShareSignerDep, urls: SignerDep, response: Response
) -> SharedView:
    """What a share link shows: its title, expiry and clips (each with video URLs that
    work 15 minutes). 404 with the reason for a link that is not valid, has expired,
    was withdrawn, or whose clip or playlist was deleted. No account needed."""
    _private(response)
    return service.open_link(db, token=token, signer=signer, urls=urls)


@router.get("/{token}/clips/{clip_id}")
def shared_clip(
    token: Token,
    clip_id: Annotated[UUID, Path()],
    signer: ShareSignerDep,
    urls: SignerDep,
    response: Response,
) -> SharedClip:
    """One clip the link shares (fresh URLs); any other clip is 404."""
    _private(response)
    return service.shared_clip(token=token, clip_id=clip_id, signer=signer, urls=urls)


@page_router.get("/share/{token}", name="share_page", response_class=HTMLResponse)
def share_page(token: Token) -> FileResponse:
    """The page a link opens (it reads its data from /api/v1/share/{token})."""
    return FileResponse(
        PAGE_DIR / "share.html",
        media_type="text/html; charset=utf-8",
        headers={**_PRIVATE, "Content-Security-Policy": _PAGE_POLICY},
    )


@page_router.get("/share-assets/{name}", name="share_asset")
def share_asset(name: Annotated[str, Path(pattern=r"^(share\.js|share\.css)$")]) -> FileResponse:
    kind = "text/javascript" if name.endswith(".js") else "text/css"
    return FileResponse(
        PAGE_DIR / name,
        media_type=f"{kind}; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
