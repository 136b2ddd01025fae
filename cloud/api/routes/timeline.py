"""The session timeline, its export for AI, and pushing it to the embeddings sink."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from cloud.api.deps import CoachScope, DatabaseDep, MemberScope, SessionInOrg, SignerDep, SinkDep
from cloud.api.export.archive import jsonl_chunks, read_chunks, zip_documents
from cloud.api.export.documents import iter_documents
from cloud.api.export.sinks import SinkError
from cloud.api.openapi import DocumentedRoute
from cloud.api.query.cursor import Order
from cloud.api.schemas.timeline import (
    ExportFormat,
    TimelineItemType,
    TimelinePublic,
    TimelinePushResult,
)
from cloud.api.services.timeline import TimelineFilter, page_json, timeline_page
from cloud.errors import Unavailable

router = APIRouter(
    prefix="/sessions/{session_id}/timeline", route_class=DocumentedRoute, tags=["timeline"]
)

TypesQuery = Annotated[
    list[TimelineItemType] | None, Query(alias="type", description="Repeat to allow several.")
]
SourcesQuery = Annotated[list[str] | None, Query(alias="source", max_length=20)]


def _filter(
    types: list[TimelineItemType] | None,
    sources: list[str] | None,
    device_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> TimelineFilter:
    return TimelineFilter(
        types=frozenset(types or ()),
        sources=frozenset(sources or ()),
        device_id=device_id,
        since=since,
        until=until,
    )


@router.get("", response_model=TimelinePublic)
def read_timeline(
    scope: MemberScope,
    db: DatabaseDep,
    session: SessionInOrg,
    signer: SignerDep,
    types: TypesQuery = None,
    sources: SourcesQuery = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[
        datetime | None, Query(description="From this time (inclusive, aware).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Before this time (aware).")] = None,
    order: Order = Order.ASC,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Logs, markers, clips, detection events and lifecycle changes in one stream
    (003 GET /sessions/{id}/timeline), keyset-paginated: pass ``next_cursor`` back as
    ``cursor``; an item is never repeated or skipped while new ones arrive."""
    items, next_cursor = timeline_page(
        db,
        scope=scope,
        session=session,
        wanted=_filter(types, sources, device_id, since, until),
        order=order,
        cursor=cursor,
        limit=limit,
        signer=signer,
    )
    return Response(page_json(items, next_cursor), media_type="application/json")


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "JSON Lines (one TimelineDocument per line) or a ZIP of {id}.json files.",
            "content": {"application/x-ndjson": {}, "application/zip": {}},
        }
    },
)
def export_timeline(
    scope: MemberScope,
    db: DatabaseDep,
    session: SessionInOrg,
    format: ExportFormat = ExportFormat.JSONL,
    types: TypesQuery = None,
) -> StreamingResponse:
    """Every timeline item's full data as a document (TimelineDocument), for download."""
    documents = iter_documents(
        db, scope=scope, session=session, wanted=_filter(types, None, None, None, None)
    )
    name = f"timeline-{session.id}"
    if format is ExportFormat.ZIP:
        archive = zip_documents(documents)
        return StreamingResponse(
            iterate_in_threadpool(read_chunks(archive)),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
        )
    return StreamingResponse(
        iterate_in_threadpool(jsonl_chunks(documents)),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{name}.jsonl"'},
    )


@router.post(
    "/embed",
    responses={
        503: {"description": "No embeddings sink is configured, or it failed (sink_failed)."}
    },
)
def embed_timeline(
    scope: CoachScope, db: DatabaseDep, session: SessionInOrg, sink: SinkDep
) -> TimelinePushResult:
    """ "Embed Current Timeline" (003): push every item's document to the configured
    embeddings sink, replacing what it held for this session."""
    if sink is None:
        raise Unavailable(
            "no embeddings sink is configured (api.embeddings.kind = directory or webhook)",
            code="no_sink",
        )
    documents = iter_documents(db, scope=scope, session=session)
    try:
        result = sink.push(org=scope.org.slug, session_id=session.id, documents=documents)
    except SinkError as exc:
        raise Unavailable(str(exc), code="sink_failed") from exc
    return TimelinePushResult(
        sink=sink.name, documents=result.documents, batches=result.batches, location=result.location
    )
