"""Provenance: which configuration made a document's stored chunks, and whether they are stale.

A document records what its chunks were made from (`config_hash`, `chunked_sha256`, set with
the chunks by `DocumentChunkWriter`), and `chunk_configs` holds each configuration once, so
the answers need no scan of chunks: a document is stale when it has stored chunks and either
its content changed since (`chunked_sha256 != content_sha256`) or its chunks' configuration
hash is not the hash of its collection's configuration now. Nothing here re-chunks anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.documents.schemas import ChunkedWith, DocumentOut
from chunkyard.storage.models import ChunkConfig, Collection, Document
from chunkyard.storage.repositories import config_hash_for


def is_stale(
    config_hash: str | None, chunked_sha256: str | None, content_sha256: str,
    collection_hash: str,
) -> bool:
    """The one rule: stored chunks (a configuration hash) that another configuration than the
    collection's made, or that were made from other content."""
    if config_hash is None:
        return False
    changed = chunked_sha256 is not None and chunked_sha256 != content_sha256
    return changed or config_hash != collection_hash


async def stored_configs(
    session: AsyncSession, hashes: set[str]
) -> dict[str, dict[str, Any] | None]:
    """The configurations stored under `hashes` (None for one known only by its hash)."""
    if not hashes:
        return {}
    rows = await session.execute(
        select(ChunkConfig.config_hash, ChunkConfig.config)
        .where(ChunkConfig.config_hash.in_(hashes))
    )
    return {row[0]: row[1] for row in rows}


def chunked_with(config: dict[str, Any] | None) -> ChunkedWith | None:
    if not config:
        return None
    return ChunkedWith(strategy=str(config.get("strategy", "")),
                       params=dict(config.get("params") or {}))


async def describe_documents(
    session: AsyncSession, documents: Sequence[Document]
) -> list[DocumentOut]:
    """The bodies of `documents` with their provenance: two queries however many there are
    (their chunks' configurations, their collections' configurations)."""
    configs = await stored_configs(session, {d.config_hash for d in documents if d.config_hash})
    collection_ids = {d.collection_id for d in documents}
    current: dict[uuid.UUID, str] = {}
    if collection_ids:
        rows = await session.execute(
            select(Collection.id, Collection.config).where(Collection.id.in_(collection_ids))
        )
        current = {row[0]: config_hash_for(row[1]) for row in rows}
    out = []
    for document in documents:
        body = DocumentOut.model_validate(document)
        if document.config_hash is not None:
            body.chunked_with = chunked_with(configs.get(document.config_hash))
            body.stale = is_stale(document.config_hash, document.chunked_sha256,
                                  document.content_sha256,
                                  current.get(document.collection_id, ""))
        out.append(body)
    return out


@dataclass(frozen=True, slots=True)
class CollectionProvenance:
    """Per collection: its documents, their stored chunks, and how many are stale or were
    chunked with another configuration than the collection's."""

    documents: int = 0
    chunks: int = 0
    stale: int = 0
    other_config: int = 0


async def collection_provenance(
    session: AsyncSession, configs: dict[uuid.UUID, dict[str, Any]]
) -> dict[uuid.UUID, CollectionProvenance]:
    """For each collection id in `configs` (its configuration now), in one query grouped by
    collection, configuration hash and whether the content changed since chunking (a few
    groups per collection, not a row per document)."""
    if not configs:
        return {}
    changed = case(
        (Document.chunked_sha256.is_not(None)
         & (Document.chunked_sha256 != Document.content_sha256), 1),
        else_=0,
    )
    rows = await session.execute(
        select(
            Document.collection_id,
            Document.config_hash,
            changed,
            func.count(),
            func.coalesce(func.sum(Document.chunk_count), 0),
        )
        .where(Document.collection_id.in_(list(configs)))
        .group_by(Document.collection_id, Document.config_hash, changed)
    )
    hashes = {cid: config_hash_for(config) for cid, config in configs.items()}
    totals: dict[uuid.UUID, list[int]] = {}
    for collection_id, config_hash, content_changed, count, chunks in rows:
        total = totals.setdefault(collection_id, [0, 0, 0, 0])
        total[0] += int(count)
        total[1] += int(chunks)
        if config_hash is None:
            continue
        if config_hash != hashes[collection_id]:
            total[3] += int(count)
            total[2] += int(count)
        elif content_changed:
            total[2] += int(count)
    return {cid: CollectionProvenance(*t) for cid, t in totals.items()}
