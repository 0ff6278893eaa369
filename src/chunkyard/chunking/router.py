"""The chunking domain's routes: the strategies, preview, compare and recommend.

Previews and compares of pasted text or of a stored document run in the app's chunking
processes (`pool.ChunkingPool`, also used by embedded jobs) and are cached per user.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Response

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.auth.service import Principal
from chunkyard.chunking import service
from chunkyard.chunking.availability import Choice, options_of, strategy_problem
from chunkyard.chunking.cache import cache_key, document_cache_key
from chunkyard.chunking.deps import ChunkingPoolDep, PreviewCacheDep
from chunkyard.chunking.recommend import recommend as recommend_strategy
from chunkyard.chunking.schemas import (
    ChoiceOut,
    CompareRequest,
    CompareResponse,
    Metrics,
    PreviewRequest,
    PreviewResponse,
    RecommendRequest,
    RecommendResponse,
    StrategyOut,
)
from chunkyard.chunking.work import PreviewResult, run_compare, run_document_preview, run_preview
from chunkyard.core.registry import list_strategies
from chunkyard.core.types import Chunk
from chunkyard.documents import service as documents_service
from chunkyard.documents.stored import StoredFile, stored_file
from chunkyard.kit.deps import ChunkingLimiterDep, SessionFactoryDep, SettingsDep
from chunkyard.kit.errors import ERROR_RESPONSES, PayloadTooLarge
from chunkyard.limits.deps import RateLimiterDep
from chunkyard.limits.rate import admit_preview

router = APIRouter(tags=["chunking"], responses=ERROR_RESPONSES)



def _check_size(text: str, field: str = "text") -> None:
    limit = documents_service.MAX_PREVIEW_CHARS
    if len(text) > limit:
        raise PayloadTooLarge(
            f"{field}: {len(text)} characters is more than the {limit} a preview "
            "takes; upload the document to a collection instead",
        )


@router.get("/strategies", response_model=list[StrategyOut])
async def strategies(user: CurrentUser) -> list[StrategyOut]:
    """The six strategies, with the JSON Schema of each one's parameters, whether each can run
    on this installation (and if not, why), and the tokenizers and embedding models it has."""
    admin = user.is_admin
    out = []
    for info in list_strategies():
        problem = strategy_problem(info.name)
        out.append(StrategyOut(
            **info.to_dict(),
            available=problem is None,
            unavailable_reason=problem.reason if problem else None,
            unavailable_detail=problem.detail if problem and admin else None,
            options={
                name: [_choice_out(c, admin) for c in choices]
                for name, choices in options_of(info.name).items()
            },
        ))
    return out


def _choice_out(choice: Choice, admin: bool) -> ChoiceOut:
    problem = choice.problem
    return ChoiceOut(
        value=choice.value, description=choice.description, available=problem is None,
        unavailable_reason=problem.reason if problem else None,
        unavailable_detail=problem.detail if problem and admin else None,
    )


async def _stored_file(
    factory: SessionFactoryDep, settings: SettingsDep, user: Principal, document_id: uuid.UUID,
    max_chars: int | None,
) -> StoredFile:
    """The user's document (404 otherwise), read in a short session of its own: no database
    connection is held while the document is chunked. `max_chars`: the longest text taken
    (None: any the service extracts)."""
    async with factory() as session:
        return await stored_file(session, user, document_id, settings.data_dir, max_chars,
                                 settings.max_extracted_chars)


_PREVIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    409: ERROR_RESPONSES[400] | {"description": "The document's stored file cannot be read"},
    413: ERROR_RESPONSES[400] | {"description": "The text is too long for a preview"},
    429: ERROR_RESPONSES[400] | {
        "description": "The user asked for more previews and compares this minute than "
        "they may (`Retry-After` says when to try again)"
    },
    503: ERROR_RESPONSES[400] | {"description": "A chunking worker stopped; try again"},
}


@router.post("/preview", response_model=PreviewResponse, responses=_PREVIEW_ERRORS)
async def preview(
    body: PreviewRequest,
    user: CurrentUser,
    pool: ChunkingPoolDep,
    cache: PreviewCacheDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    rate: RateLimiterDep,
) -> Response:
    """Chunk a text, or a stored document as an operation would, with one configuration;
    nothing is stored. Previews and compares count against the user's
    `CHUNKYARD_MAX_PREVIEWS_PER_MINUTE` (429 past it)."""
    await admit_preview(rate, user.id, settings.max_previews_per_minute)
    if body.text is not None:
        _check_size(body.text)
    valid = service.validate_config(body.strategy, body.params, user, field="")
    source: StoredFile | None = None
    if body.document_id is not None:
        # Chunked whole, whatever its size (the chunking processes' memory cap bounds it); the
        # answer holds a window of its chunks.
        source = await _stored_file(factory, settings, user, body.document_id, None)
        key = document_cache_key(
            source.content_sha256, source.filename, valid.strategy, valid.params
        )
    else:
        key = cache_key(body.text or "", body.filename, valid.strategy, valid.params)

    result = await cache.get(user.id, key)
    cached = result is not None
    if result is None:
        if source is not None:
            result = await pool.run(run_document_preview, source, valid.strategy, valid.params)
        else:
            result = await pool.run(
                run_preview, body.text or "", body.filename, valid.strategy, valid.params
            )
        await cache.put(user.id, key, result)
    return _preview_response(result, body.first_chunk, body.max_chunks, cached)


def shown_chunks(
    chunks: list[Chunk], first_chunk: int, max_chunks: int | None, budget: int
) -> tuple[list[Chunk], int | None]:
    """The window of `chunks` an answer holds, and the index of the next chunk (None: the
    window reaches the last): from `first_chunk`, at most `max_chunks` (None: any number),
    and, for a text longer than `budget` characters (only a stored document can be), no more
    chunk text than `budget` (at least one chunk, whatever its length)."""
    end = len(chunks) if max_chunks is None else min(len(chunks), first_chunk + max_chunks)
    if chunks and max(c.end for c in chunks) > budget:
        held = 0
        for i in range(first_chunk, end):
            held += len(chunks[i].text)
            if held > budget and i > first_chunk:
                end = i
                break
    return chunks[first_chunk:end], (end if end < len(chunks) else None)


def _preview_response(
    result: PreviewResult, first_chunk: int, max_chunks: int | None, cached: bool
) -> Response:
    """The answer as JSON bytes, built from plain dicts rather than one model per chunk: a
    preview may hold 100,000 chunks, and building and validating that many models held the
    event loop for half a second (the shape is `PreviewResponse`'s, as documented)."""
    shown, next_chunk = shown_chunks(result.chunks, first_chunk, max_chunks,
                                     documents_service.MAX_PREVIEW_CHARS)
    body = {
        "chunks": [{"index": c.index, "text": c.text, "start": c.start, "end": c.end,
                    "tokens": c.tokens, "metadata": c.metadata} for c in shown],
        "total_chunks": len(result.chunks),
        "next_chunk": next_chunk,
        "metrics": Metrics(**result.metrics).model_dump(),
        "cached": cached,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.post("/recommend", response_model=RecommendResponse)
async def recommend(
    body: RecommendRequest, user: CurrentUser, limiter: ChunkingLimiterDep
) -> RecommendResponse:
    """A strategy and parameters for a file, from its name and (optionally) its text, sized for
    retrieval with the embedding model named (or its input limit)."""
    if body.text is not None:
        _check_size(body.text)
    rec = await anyio.to_thread.run_sync(
        partial(recommend_strategy, body.filename, body.text,
                embedding_model=body.embedding_model,
                embedding_max_tokens=body.embedding_max_tokens),
        limiter=limiter,
    )
    return RecommendResponse(**rec.to_dict())


@router.post("/compare", response_model=CompareResponse, responses=_PREVIEW_ERRORS)
async def compare_configs(
    body: CompareRequest,
    user: CurrentUser,
    pool: ChunkingPoolDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    rate: RateLimiterDep,
) -> CompareResponse:
    """Chunk one text or stored document with 2 to 6 configurations and measure how the
    chunks differ. A configuration that fails while chunking (say, an embedding endpoint that
    cannot be reached) has `error` and null metrics and chunks, and is not recommended; when
    every configuration fails, the first one's error is the response. Configurations that are
    not valid (or cannot run on this installation) are refused with 422 before any runs.
    Counts against the user's previews a minute, as a preview does."""
    await admit_preview(rate, user.id, settings.max_previews_per_minute)
    if body.text is not None:
        _check_size(body.text)
    configs = [
        service.validate_config(c.strategy, c.params, user, field=f"configs[{i}]").to_dict()
        for i, c in enumerate(body.configs)
    ]
    source: str | StoredFile = body.text or ""
    if body.document_id is not None:
        source = await _stored_file(factory, settings, user, body.document_id,
                                    documents_service.MAX_PREVIEW_CHARS)
    result = await pool.run(
        run_compare, source, body.filename, configs, body.max_chunks
    )
    return CompareResponse.model_validate(result)
