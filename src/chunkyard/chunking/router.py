"""The chunking domain's routes: the strategies, preview, compare and recommend.

Previews and compares of pasted text or of a stored document run in the app's chunking
processes (`preview.ChunkingPool`, also used by embedded jobs) and are cached per user.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import anyio
from fastapi import APIRouter, Request

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.auth.service import Principal
from chunkyard.chunking.preview import (
    ChunkingPool,
    PreviewCache,
    PreviewResult,
    StoredDocument,
    cache_key,
    document_cache_key,
    run_compare,
    run_document_preview,
    run_preview,
    stored_document,
)
from chunkyard.collections import service
from chunkyard.collections.schemas import (
    ChunkOut,
    CompareRequest,
    CompareResponse,
    Metrics,
    PreviewRequest,
    PreviewResponse,
    RecommendRequest,
    RecommendResponse,
    StrategyOut,
)
from chunkyard.core.recommend import recommend as recommend_strategy
from chunkyard.core.registry import list_strategies
from chunkyard.core.types import Chunk
from chunkyard.documents import service as documents_service
from chunkyard.kit.deps import chunking_limiter
from chunkyard.kit.errors import ERROR_RESPONSES, PayloadTooLarge
from chunkyard.settings import Settings

router = APIRouter(tags=["chunking"], responses=ERROR_RESPONSES)

# Chunking threads at once (beyond these, previews wait): anyio's shared default pool of 40
# stays free for everything else that needs a thread. One limiter per app, made in its
# lifespan (a limiter belongs to one event loop).
CHUNKING_THREADS = max(2, os.cpu_count() or 2)


def chunking_pool(request: Request) -> ChunkingPool:
    pool: ChunkingPool = request.app.state.chunking_pool
    return pool



def _chunk_out(chunk: Chunk) -> ChunkOut:
    return ChunkOut(
        index=chunk.index, text=chunk.text, start=chunk.start, end=chunk.end,
        tokens=chunk.tokens, metadata=chunk.metadata,
    )


def _check_size(text: str, field: str = "text") -> None:
    limit = documents_service.MAX_PREVIEW_CHARS
    if len(text) > limit:
        raise PayloadTooLarge(
            f"{field}: {len(text)} characters is more than the {limit} a preview "
            "takes; upload the document to a collection instead",
        )


@router.get("/strategies", response_model=list[StrategyOut])
async def strategies(user: CurrentUser) -> list[StrategyOut]:
    """The six strategies, with the JSON Schema of each one's parameters."""
    return [StrategyOut(**info.to_dict()) for info in list_strategies()]


async def _stored_document(
    request: Request, user: Principal, document_id: uuid.UUID
) -> StoredDocument:
    """The user's document (404 otherwise), read in a short session of its own: no database
    connection is held while the document is chunked."""
    settings: Settings = request.app.state.settings
    async with request.app.state.session_factory() as session:
        return await stored_document(session, user, document_id, settings.data_dir)


_PREVIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    409: ERROR_RESPONSES[400] | {"description": "The document's stored file cannot be read"},
    413: ERROR_RESPONSES[400] | {"description": "The text is too long for a preview"},
    503: ERROR_RESPONSES[400] | {"description": "A chunking worker stopped; try again"},
}


@router.post("/preview", response_model=PreviewResponse, responses=_PREVIEW_ERRORS)
async def preview(body: PreviewRequest, request: Request, user: CurrentUser) -> PreviewResponse:
    """Chunk a text, or a stored document as an operation would, with one configuration;
    nothing is stored."""
    if body.text is not None:
        _check_size(body.text)
    valid = service.validate_config(body.strategy, body.params, user, field="")
    source: StoredDocument | None = None
    if body.document_id is not None:
        source = await _stored_document(request, user, body.document_id)
        key = document_cache_key(
            source.content_sha256, source.filename, valid.strategy, valid.params
        )
    else:
        key = cache_key(body.text or "", body.filename, valid.strategy, valid.params)

    cache: PreviewCache = request.app.state.preview_cache
    result = await cache.get(user.id, key)
    cached = result is not None
    if result is None:
        pool = chunking_pool(request)
        if source is not None:
            result = await pool.run(run_document_preview, source, valid.strategy, valid.params)
        else:
            result = await pool.run(
                run_preview, body.text or "", body.filename, valid.strategy, valid.params
            )
        await cache.put(user.id, key, result)
    return _preview_response(result, body.max_chunks, cached)


def _preview_response(
    result: PreviewResult, max_chunks: int | None, cached: bool
) -> PreviewResponse:
    shown = result.chunks if max_chunks is None else result.chunks[:max_chunks]
    return PreviewResponse(
        chunks=[_chunk_out(c) for c in shown],
        total_chunks=len(result.chunks),
        metrics=Metrics(**result.metrics),
        cached=cached,
    )


@router.post("/recommend", response_model=RecommendResponse)
async def recommend(
    body: RecommendRequest, request: Request, user: CurrentUser
) -> RecommendResponse:
    """A strategy and parameters for a file, from its name and (optionally) its text."""
    if body.text is not None:
        _check_size(body.text)
    rec = await anyio.to_thread.run_sync(
        recommend_strategy, body.filename, body.text, limiter=chunking_limiter(request)
    )
    return RecommendResponse(**rec.to_dict())


@router.post("/compare", response_model=CompareResponse, responses=_PREVIEW_ERRORS)
async def compare_configs(
    body: CompareRequest, request: Request, user: CurrentUser
) -> CompareResponse:
    """Chunk one text or stored document with 2 to 6 configurations and measure how the
    chunks differ."""
    if body.text is not None:
        _check_size(body.text)
    configs = [
        service.validate_config(c.strategy, c.params, user, field=f"configs[{i}]").to_dict()
        for i, c in enumerate(body.configs)
    ]
    source: str | StoredDocument = body.text or ""
    if body.document_id is not None:
        source = await _stored_document(request, user, body.document_id)
    result = await chunking_pool(request).run(
        run_compare, source, body.filename, configs, body.max_chunks
    )
    return CompareResponse.model_validate(result)
