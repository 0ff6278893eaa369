"""Routes: a collection's or a document's stored chunks, page by page; a collection's export."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.chunks import service
from chunkyard.chunks.schemas import ChunkPage
from chunkyard.collections.service import get_collection
from chunkyard.kit.deps import SessionDep, SessionFactoryDep
from chunkyard.kit.errors import ERROR_RESPONSES, Invalid
from chunkyard.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from chunkyard.storage.repositories.chunk_filters import (
    HEADING_SEPARATOR,
    MAX_FILTER_TEXT,
    ChunkFilters,
)

router = APIRouter(tags=["chunks"], responses=ERROR_RESPONSES)

_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One JSON object per line: the fields of a listed chunk (its stable "
        "`id` among them) plus `source` (the document's file name) and `config` (the "
        "`{strategy, params}` that made the chunk), in chunk order.",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    },
}

_FILTERS = (
    " Filters (all optional, combined with AND): `q`, text the chunk contains (ignoring case, "
    "taken literally: `%` and `_` are plain characters); `min_tokens` and `max_tokens`, "
    "inclusive bounds on its token count; `heading`, text its heading path contains (the "
    f"chunk's `metadata.headings` joined with \"{HEADING_SEPARATOR}\", ignoring case; a "
    "chunk without headings never matches). A `next_cursor` holds for the filters it was "
    "made with: sent with other filters it is refused (400 `invalid_cursor`)."
)
_FILTER_TEXT = f"Text of at most {MAX_FILTER_TEXT} characters; empty means no filter."

QText = Annotated[
    str | None,
    Query(max_length=MAX_FILTER_TEXT,
          description="Only chunks whose text contains this (ignoring case). " + _FILTER_TEXT),
]
HeadingText = Annotated[
    str | None,
    Query(max_length=MAX_FILTER_TEXT,
          description="Only chunks whose heading path (`metadata.headings` joined with "
          f"\"{HEADING_SEPARATOR}\") contains this (ignoring case). " + _FILTER_TEXT),
]
MinTokens = Annotated[
    int | None, Query(ge=0, description="Only chunks of at least this many tokens.")
]
MaxTokens = Annotated[
    int | None, Query(ge=0, description="Only chunks of at most this many tokens.")
]


def _filters(
    q: str | None, min_tokens: int | None, max_tokens: int | None, heading: str | None,
    document_id: uuid.UUID | None = None,
) -> ChunkFilters:
    for name, value in (("q", q), ("heading", heading)):
        if value is not None and "\x00" in value:
            # No stored text holds one (extraction replaces it), and PostgreSQL refuses it.
            raise Invalid(f"{name}: a NUL character cannot be searched for; leave it out",
                          code="invalid_filter")
    if min_tokens is not None and max_tokens is not None and min_tokens > max_tokens:
        raise Invalid(
            f"min_tokens ({min_tokens}) is more than max_tokens ({max_tokens}): no chunk "
            "could match; give a min_tokens at most max_tokens",
            code="invalid_filter",
        )
    return ChunkFilters(q=q, document_id=document_id, min_tokens=min_tokens,
                        max_tokens=max_tokens, heading=heading)


def document_filters(
    q: QText = None, min_tokens: MinTokens = None, max_tokens: MaxTokens = None,
    heading: HeadingText = None,
) -> ChunkFilters:
    return _filters(q, min_tokens, max_tokens, heading)


def collection_filters(
    q: QText = None,
    document_id: Annotated[
        uuid.UUID | None,
        Query(description="Only the chunks of this document (of this collection; another "
              "collection's document matches none)."),
    ] = None,
    min_tokens: MinTokens = None,
    max_tokens: MaxTokens = None,
    heading: HeadingText = None,
) -> ChunkFilters:
    return _filters(q, min_tokens, max_tokens, heading, document_id)


@router.get("/collections/{collection_id}/chunks", response_model=ChunkPage,
            description="The collection's chunks in chunk order: document by document (upload "
            "order), then by index." + _FILTERS)
async def list_collection_chunks(
    collection_id: str,
    session: SessionDep,
    user: CurrentUser,
    filters: Annotated[ChunkFilters, Depends(collection_filters)],
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ChunkPage:
    page = await service.list_collection_chunks(
        session, user, collection_id, limit=limit, cursor=cursor, filters=filters
    )
    return service.chunk_page(page)


@router.get("/documents/{document_id}/chunks", response_model=ChunkPage,
            description="The document's chunks in index order." + _FILTERS)
async def list_document_chunks(
    document_id: str,
    session: SessionDep,
    user: CurrentUser,
    filters: Annotated[ChunkFilters, Depends(document_filters)],
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ChunkPage:
    page = await service.list_document_chunks(
        session, user, document_id, limit=limit, cursor=cursor, filters=filters
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
