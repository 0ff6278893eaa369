"""The diff route: `POST /collections/{id}/diff`, what re-chunking with a configuration would
keep, add and remove, per document and in total (see `diff.py`); nothing is stored."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.chunking import service
from chunkyard.chunking.deps import ChunkingPoolDep
from chunkyard.chunking.diff import (
    MAX_DIFF_DOCUMENTS,
    MAX_LISTED_CHANGES,
    Counts,
    DocumentDiff,
    diff_documents,
    diff_one,
)
from chunkyard.chunking.schemas import ChunkConfig
from chunkyard.documents.service import owned_collection
from chunkyard.documents.stored import stored_file_of
from chunkyard.kit.deps import SessionFactoryDep, SettingsDep
from chunkyard.kit.errors import ERROR_RESPONSES
from chunkyard.limits.deps import RateLimiterDep
from chunkyard.limits.rate import admit_preview
from chunkyard.storage.repositories import config_hash_for, document_chunk_ids

router = APIRouter(tags=["chunking"], responses=ERROR_RESPONSES)


class DiffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: ChunkConfig | None = Field(
        None, description="The configuration to compare with; absent: the collection's."
    )
    document_ids: list[uuid.UUID] | None = Field(
        None, min_length=1, max_length=MAX_DIFF_DOCUMENTS,
        description=f"The documents to compare (at most {MAX_DIFF_DOCUMENTS}); absent: every "
        f"document of the collection (at most {MAX_DIFF_DOCUMENTS}).",
    )
    include_changes: bool = Field(
        False, description="Also list, per document, which chunks would be added and which "
        "stored ids removed (`changes`)."
    )


class DiffCounts(BaseModel):
    kept: int = Field(description="Chunks whose stable id is stored now and would stay.")
    added: int = Field(description="Chunks with an id not stored now: new or changed chunks.")
    removed: int = Field(description="Stored chunks whose id the new chunking would not have.")
    tokens_to_embed: int = Field(
        description="Tokens of the added chunks: what re-embedding by id would cost."
    )


class AddedChunkOut(BaseModel):
    id: str = Field(description="The stable id the chunk would have.")
    index: int
    start: int = Field(description="Offsets into the document's extracted text as it is now.")
    end: int
    tokens: int


class DiffChangesOut(BaseModel):
    added: list[AddedChunkOut] = Field(description="The chunks that would be added, in order.")
    removed: list[str] = Field(description="The stored chunk ids that would go, in order.")
    truncated: bool = Field(
        description=f"True when a list was cut at {MAX_LISTED_CHANGES} (the counts are whole)."
    )


class DocumentDiffOut(BaseModel):
    document_id: uuid.UUID
    filename: str
    kept: int | None
    added: int | None
    removed: int | None
    tokens_to_embed: int | None
    error: str | None = Field(
        description="Why this document could not be compared (its counts are then null and "
        "left out of the total), or null."
    )
    changes: DiffChangesOut | None = Field(
        None, description="Which chunks change, with `include_changes` (else null)."
    )


class DiffTotal(DiffCounts):
    documents: int = Field(description="Documents compared.")
    failed: int = Field(description="Documents that could not be compared (see their error).")


class DiffResponse(BaseModel):
    config: ChunkConfig = Field(description="The configuration compared with, validated.")
    documents: list[DocumentDiffOut]
    total: DiffTotal


_DIFF_ERRORS: dict[int | str, dict[str, Any]] = {
    429: ERROR_RESPONSES[400] | {
        "description": "The user asked for more previews, compares and diffs this minute than "
        "they may (`Retry-After` says when to try again)"
    },
    503: ERROR_RESPONSES[400] | {"description": "A chunking worker stopped; try again"},
}


def _document_out(diff: DocumentDiff, include_changes: bool) -> DocumentDiffOut:
    counts, changes = diff.counts, diff.changes
    listed = None
    if include_changes and changes is not None:
        listed = DiffChangesOut(
            added=[AddedChunkOut(id=c.id, index=c.index, start=c.start, end=c.end,
                                 tokens=c.tokens) for c in changes.added],
            removed=changes.removed, truncated=changes.truncated,
        )
    return DocumentDiffOut(
        document_id=diff.document.id, filename=diff.document.filename,
        kept=counts.kept if counts else None, added=counts.added if counts else None,
        removed=counts.removed if counts else None,
        tokens_to_embed=counts.tokens_to_embed if counts else None, error=diff.error,
        changes=listed,
    )


@router.post("/collections/{collection_id}/diff", response_model=DiffResponse,
             responses=_DIFF_ERRORS)
async def diff_collection(
    collection_id: str,
    body: DiffRequest,
    user: CurrentUser,
    pool: ChunkingPoolDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    rate: RateLimiterDep,
) -> DiffResponse:
    """What re-chunking the collection's documents (or the given ones) with `config` would
    change, per document and in total, by stable chunk id: kept, added, removed, and the
    tokens of the added chunks. Each document is chunked as an operation would chunk it, in the
    capped chunking processes, and nothing is stored; a document that cannot be chunked fails
    alone with its reason. Counts against the user's previews a minute, as one preview."""
    await admit_preview(rate, user.id, settings.max_previews_per_minute)
    # Short sessions: no connection is held while documents are chunked.
    async with factory() as session:
        collection = await owned_collection(session, user, collection_id)
        chosen = body.config or ChunkConfig.model_validate(collection.config)
        config = service.validate_config(chosen.strategy, chosen.params, user).to_dict()
        documents = await diff_documents(session, collection, body.document_ids)
    config_hash = config_hash_for(config)
    results: list[DocumentDiff] = []
    for document in documents:
        async with factory() as session:
            stored = await document_chunk_ids(session, document.id)
        source = stored_file_of(document, settings.data_dir,
                                max_extracted_chars=settings.max_extracted_chars)
        results.append(await diff_one(pool, stored, document, source, config, config_hash))
    total = sum((r.counts for r in results if r.counts is not None), Counts())
    failed = sum(1 for r in results if r.counts is None)
    return DiffResponse(
        config=ChunkConfig.model_validate(config),
        documents=[_document_out(r, body.include_changes) for r in results],
        total=DiffTotal(kept=total.kept, added=total.added, removed=total.removed,
                        tokens_to_embed=total.tokens_to_embed,
                        documents=len(results) - failed, failed=failed),
    )
