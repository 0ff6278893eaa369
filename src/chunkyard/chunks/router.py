"""Routes: a collection's or a document's stored chunks, page by page; a collection's export."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.chunks import service
from chunkyard.chunks.schemas import ChunkPage
from chunkyard.collections.service import get_collection
from chunkyard.kit.deps import SessionDep, SessionFactoryDep
from chunkyard.kit.errors import ERROR_RESPONSES
from chunkyard.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery

router = APIRouter(tags=["chunks"], responses=ERROR_RESPONSES)

_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One JSON object per line: the fields of a listed chunk plus `source` "
        "(the document's file name), in chunk order.",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    },
}


@router.get("/collections/{collection_id}/chunks", response_model=ChunkPage)
async def list_collection_chunks(
    collection_id: str,
    session: SessionDep,
    user: CurrentUser,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ChunkPage:
    """The collection's chunks in chunk order: document by document (upload order), then by
    index."""
    page = await service.list_collection_chunks(
        session, user, collection_id, limit=limit, cursor=cursor
    )
    return service.chunk_page(page)


@router.get("/documents/{document_id}/chunks", response_model=ChunkPage)
async def list_document_chunks(
    document_id: str,
    session: SessionDep,
    user: CurrentUser,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ChunkPage:
    """The document's chunks in index order."""
    page = await service.list_document_chunks(
        session, user, document_id, limit=limit, cursor=cursor
    )
    return service.chunk_page(page)


@router.get(
    "/collections/{collection_id}/export", response_class=StreamingResponse, responses=_EXPORT
)
async def export_collection(
    collection_id: str, session: SessionDep, user: CurrentUser, factory: SessionFactoryDep
) -> StreamingResponse:
    """Every chunk of the collection as streamed JSONL (a download)."""
    # Checked before the response starts: someone else's collection is a plain 404.
    collection = await get_collection(session, user, collection_id)
    return StreamingResponse(
        service.export_lines(factory, collection.id),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": service.attachment(collection)},
    )
