"""Chunks: list a collection's or a document's stored chunks, and export a collection as JSONL.

Ownership goes through the collection and document services, so another user's collection or
document is simply not found (404). Pages come from the storage repository's keyset listings
(a document's chunks from its one partition); their cursors are opaque to clients, and one the
listing did not issue is a 400 `invalid_cursor` (`InvalidCursor`, rendered by `kit.errors`).

An export reads the collection in keyset batches, each in a short session of its own, so a
long download holds no connection or transaction between batches and never holds more than
one batch in memory. The price: a document re-chunked during an export may appear with part
of its old and part of its new chunks.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.auth.service import Principal
from chunkyard.chunks.schemas import ChunkPage, StoredChunkOut
from chunkyard.collections.service import get_collection
from chunkyard.documents.service import get_document
from chunkyard.storage import repositories
from chunkyard.storage.models import Chunk, ChunkConfig, Collection, Document
from chunkyard.storage.repositories import Page
from chunkyard.storage.repositories.chunk_filters import (
    ChunkFilters,
    list_collection_chunks_filtered,
    list_document_chunks_filtered,
)

EXPORT_BATCH = repositories.MAX_PAGE_SIZE
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILENAME_STEM = 100


def chunk_out(chunk: Chunk) -> StoredChunkOut:
    return StoredChunkOut.model_validate(chunk)


def chunk_page(page: Page[Chunk]) -> ChunkPage:
    return ChunkPage(items=[chunk_out(c) for c in page.items], next_cursor=page.next_cursor)


async def list_collection_chunks(
    session: AsyncSession, owner: Principal, collection_id: str, *, limit: int,
    cursor: str | None, filters: ChunkFilters | None = None,
) -> Page[Chunk]:
    """The owner's collection's chunks in chunk order (document, then index), narrowed by
    `filters` (see `storage.repositories.chunk_filters`)."""
    collection = await get_collection(session, owner, collection_id)
    return await list_collection_chunks_filtered(
        session, collection.id, filters or ChunkFilters(), limit=limit, cursor=cursor
    )


async def list_document_chunks(
    session: AsyncSession, owner: Principal, document_id: str, *, limit: int,
    cursor: str | None, filters: ChunkFilters | None = None,
) -> Page[Chunk]:
    """The owner's document's chunks in index order (one partition), narrowed by `filters`."""
    document = await get_document(session, owner, document_id)
    return await list_document_chunks_filtered(
        session, document.id, filters or ChunkFilters(), limit=limit, cursor=cursor
    )


# -- export -------------------------------------------------------------------------------------


def attachment(collection: Collection) -> str:
    """A `Content-Disposition` naming the download after the collection (ASCII fallback plus
    the exact name in RFC 6266's `filename*`)."""
    stem = _UNSAFE_FILENAME.sub("_", collection.name).strip("._")[:MAX_FILENAME_STEM]
    fallback = f"{stem or f'collection-{collection.id}'}.jsonl"
    exact = quote(f"{collection.name}.jsonl", safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def _line(chunk: Chunk, source: str, config: dict[str, Any] | None) -> str:
    data = chunk_out(chunk).model_dump(mode="json")
    data["source"] = source
    # Strategy first, as everywhere else (JSONB keeps its keys in its own order).
    data["config"] = (None if config is None
                      else {"strategy": config.get("strategy"), "params": config.get("params")})
    line = json.dumps(data, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (SQLite can hold one): escape the line
        line = json.dumps(data)
    return line + "\n"


async def export_lines(
    factory: async_sessionmaker[AsyncSession], collection_id: uuid.UUID,
    *, batch_size: int | None = None,
) -> AsyncIterator[bytes]:
    """Every chunk of a collection as JSONL (list fields, the stable `id` among them, plus
    `source`, the document's file name, and `config`, the `{strategy, params}` that made the
    chunk), one batch of lines per yield. Ownership is checked by the caller, beforehand."""
    batch_size = batch_size or EXPORT_BATCH
    cursor: str | None = None
    # A collection's chunks come from a few configurations: each is read once.
    configs: dict[int, dict[str, Any] | None] = {}
    while True:
        async with factory() as session:
            page = await repositories.list_collection_chunks(
                session, collection_id, limit=batch_size, cursor=cursor
            )
            ids = {c.document_id for c in page.items}
            names: dict[uuid.UUID, str] = {}
            if ids:
                rows = await session.execute(
                    select(Document.id, Document.filename).where(Document.id.in_(ids))
                )
                names = {row[0]: row[1] for row in rows}
            missing = {c.config_id for c in page.items} - configs.keys()
            if missing:
                found = await session.execute(
                    select(ChunkConfig.id, ChunkConfig.config).where(ChunkConfig.id.in_(missing))
                )
                configs.update({row[0]: row[1] for row in found})
        if page.items:
            yield "".join(
                _line(c, names.get(c.document_id, str(c.document_id)), configs.get(c.config_id))
                for c in page.items
            ).encode("utf-8")
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
