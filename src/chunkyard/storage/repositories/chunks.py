"""Chunks: replacing a document's chunks in one transaction, and keyset-paginated reads.

Every document-scoped statement carries `partition_key = partition_key_for(document_id)` so
PostgreSQL touches one partition. Collection-scoped reads walk the index
`(collection_id, document_id, chunk_index)` of every partition (a Merge Append of index scans),
so any page costs the same as the first: "chunk order" in a collection is document by document
(document ids are time-ordered, so in upload order), and within a document by chunk index.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Select, String, Uuid, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.core.stable_ids import StableIds
from chunkyard.core.types import Chunk as CoreChunk
from chunkyard.storage.dialect import ChunkRow, dialect_for
from chunkyard.storage.keys import partition_key_for
from chunkyard.storage.models import (
    Base,
    Chunk,
    ChunkConfig,
    Document,
    DocumentStatus,
    UTCDateTime,
    utcnow,
)
from chunkyard.storage.repositories.pages import Keyset, Page, StorageError


class DocumentNotFound(StorageError, LookupError):
    """The document does not exist (or was deleted while we waited for its lock)."""


# -- configurations -------------------------------------------------------------------------


def config_hash_for(config: Mapping[str, Any]) -> str:
    """SHA-256 of the configuration's canonical JSON: equal configurations, equal hashes."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def ensure_chunk_config(
    session: AsyncSession, config_hash: str, config: Mapping[str, Any] | None = None
) -> int:
    """The id of the `chunk_configs` row for `config_hash`, created if missing."""
    table = Base.metadata.tables["chunk_configs"]
    found = (
        await session.execute(
            select(ChunkConfig.id, ChunkConfig.config).where(ChunkConfig.config_hash == config_hash)
        )
    ).first()
    if found is None:
        # Two writers may add the same configuration at once: the second one's insert does
        # nothing, and the select below finds the first one's row.
        insert = dialect_for(session).insert_ignoring_conflicts(table)
        await session.execute(
            insert.values(config_hash=config_hash, config=dict(config) if config else None)
        )
        config_id = await session.scalar(
            select(ChunkConfig.id).where(ChunkConfig.config_hash == config_hash)
        )
        assert config_id is not None
        return int(config_id)
    if found.config is None and config is not None:
        await session.execute(
            table.update().where(table.c.id == found.id).values(config=dict(config))
        )
    return int(found.id)


# -- writing --------------------------------------------------------------------------------


async def replace_document_chunks(
    session: AsyncSession,
    document: Document | UUID,
    chunks: Sequence[CoreChunk],
    config_hash: str,
    *,
    config: Mapping[str, Any] | None = None,
    chunker_version: str | None = None,
    content_sha256: str | None = None,
) -> Document:
    """Make `chunks` the document's one set of chunks, in the caller's transaction, and
    return the document as updated (see `store_document_chunks`, which this wraps after
    storing the configuration with `ensure_chunk_config`).

    Nothing is committed: commit the session afterwards. On SQLite, call it before the
    transaction has read anything (or after it has written), so the write lock is taken up
    front; see `StorageDialect.begin_write`.
    """
    await dialect_for(session).begin_write(session)
    document_id = document if isinstance(document, UUID) else document.id
    config_id = await ensure_chunk_config(session, config_hash, config)
    await store_document_chunks(
        session, document_id, chunks, config_id=config_id, config_hash=config_hash,
        chunker_version=chunker_version, content_sha256=content_sha256,
    )
    updated: Document | None = await session.scalar(
        select(Document)
        .where(Document.id == document_id)
        .execution_options(populate_existing=True)
    )
    assert updated is not None  # locked by the UPDATE above until the caller commits
    return updated


async def store_document_chunks(
    session: AsyncSession,
    document_id: UUID,
    chunks: Sequence[CoreChunk],
    *,
    config_id: int,
    config_hash: str,
    chunker_version: str | None = None,
    content_sha256: str | None = None,
    operation_id: UUID | None = None,
) -> None:
    """Make `chunks` the document's one set of chunks (made with the stored configuration
    `config_id`, see `ensure_chunk_config`), in the caller's transaction: the chunking jobs'
    path, three statements and no ORM objects (`DocumentChunkWriter` with every chunk at once).
    Raises `DocumentNotFound` when the document does not exist (or was deleted while we
    waited for its lock)."""
    writer = DocumentChunkWriter(
        session, document_id, config_id=config_id, config_hash=config_hash,
        chunker_version=chunker_version, content_sha256=content_sha256,
        operation_id=operation_id)
    await writer.begin(len(chunks))
    await writer.add(chunks)
    await writer.finish()


@dataclass
class DocumentChunkWriter:
    """Replaces a document's chunks in the caller's transaction, taking them in batches, so a
    job stores a document's chunks as they are made instead of holding the whole list.

    `begin` records on the document what the chunks are made from (status `chunked`,
    `chunk_count`, `config_hash`, `chunker_version`, `chunked_sha256`: the content hash the
    chunks were made from, default the document's; `chunked_by_operation_id`: `operation_id`)
    in one UPDATE that also locks it (a row lock on PostgreSQL; SQLite's write lock), then
    deletes its old chunks; `add` inserts a batch (COPY on PostgreSQL); `finish` corrects
    `chunk_count` when `begin` did not know it. Each chunk gets its stable id
    (`core/stable_ids.py`) from the document, `config_hash`, its text and the number of
    chunks with the same text added before it since `begin`. Because the lock is held until
    the caller commits, two writers of one document, even at the same time, leave exactly one set of
    chunks. `begin` raises `DocumentNotFound` when the document does not exist (or was deleted
    while we waited for its lock).
    """

    session: AsyncSession
    document_id: UUID
    _: KW_ONLY
    config_id: int
    config_hash: str
    chunker_version: str | None = None
    content_sha256: str | None = None
    operation_id: UUID | None = None
    count: int = field(default=0, init=False)
    _announced: int | None = field(default=None, init=False)
    _key: int = field(default=0, init=False)
    _collection_id: UUID | None = field(default=None, init=False)
    _ids: StableIds | None = field(default=None, init=False)

    @property
    def began(self) -> bool:
        return self._collection_id is not None

    async def begin(self, expected: int | None = None) -> None:
        """Lock the document and drop its old chunks; `expected`: how many chunks will come,
        if known (saves `finish` a statement)."""
        dialect = dialect_for(self.session)
        await dialect.begin_write(self.session)
        connection = await self.session.connection()
        locked = (
            await connection.execute(
                _RECORD_CHUNKS,
                {
                    "p_document": self.document_id,
                    "p_chunk_count": expected or 0,
                    "p_config_hash": self.config_hash,
                    "p_chunker_version": self.chunker_version,
                    "p_content_sha256": self.content_sha256,
                    "p_chunked_at": utcnow(),
                    "p_operation": self.operation_id,
                },
            )
        ).first()
        if locked is None:
            raise DocumentNotFound(f"document {self.document_id} does not exist")
        self._announced = expected or 0
        self._key, self._collection_id = int(locked.partition_key), locked.collection_id
        self._ids = StableIds(self.document_id, self.config_hash)
        await connection.execute(_DELETE_CHUNKS, {"p_key": self._key,
                                                  "p_document": self.document_id})

    async def add(self, chunks: Sequence[CoreChunk]) -> None:
        """Insert a batch of the document's chunks (after `begin`)."""
        if self._collection_id is None or self._ids is None:
            raise RuntimeError("DocumentChunkWriter.add before begin")
        key, collection_id, document_id = self._key, self._collection_id, self.document_id
        next_id = self._ids.next_id
        await dialect_for(self.session).insert_chunks(self.session, [
            ChunkRow(
                partition_key=key,
                collection_id=collection_id,
                document_id=document_id,
                config_id=self.config_id,
                stable_id=next_id(chunk.text),
                chunk_index=chunk.index,
                text=chunk.text,
                start_offset=chunk.start,
                end_offset=chunk.end,
                tokens=chunk.tokens,
                metadata=chunk.metadata,
            )
            for chunk in chunks
        ])
        self.count += len(chunks)

    async def finish(self) -> int:
        """Record the number of chunks stored (if `begin` was told another); returns it."""
        if self._announced != self.count:
            await self.session.execute(
                _documents.update()
                .where(_documents.c.id == self.document_id)
                .values(chunk_count=self.count)
            )
            self._announced = self.count
        return self.count


# The statements of `store_document_chunks`, built once: a job runs them for every document,
# and building them costs more than SQLAlchemy's cached compilation of them.
_documents = Base.metadata.tables["documents"]
_chunks = Base.metadata.tables["chunks"]
_RECORD_CHUNKS = (
    _documents.update()
    .where(_documents.c.id == bindparam("p_document"))
    .values(
        status=DocumentStatus.CHUNKED,
        chunk_count=bindparam("p_chunk_count"),
        config_hash=bindparam("p_config_hash"),
        chunker_version=bindparam("p_chunker_version", type_=String()),
        chunked_sha256=func.coalesce(
            bindparam("p_content_sha256", type_=String()), _documents.c.content_sha256
        ),
        chunked_at=bindparam("p_chunked_at", type_=UTCDateTime()),
        chunked_by_operation_id=bindparam("p_operation", type_=Uuid()),
        error=None,
    )
    .returning(_documents.c.partition_key, _documents.c.collection_id)
)
_DELETE_CHUNKS = _chunks.delete().where(
    _chunks.c.partition_key == bindparam("p_key"),
    _chunks.c.document_id == bindparam("p_document"),
)


async def delete_document_chunks(session: AsyncSession, document_id: UUID) -> int:
    """Delete a document's chunks (one partition); returns how many."""
    result = await session.execute(
        delete(Chunk)
        .where(
            Chunk.partition_key == partition_key_for(document_id),
            Chunk.document_id == document_id,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- reading --------------------------------------------------------------------------------


# A document's chunks in index order; a collection's document by document, then by index.
DOCUMENT_CHUNKS = Keyset("d", (Chunk.chunk_index,))
COLLECTION_CHUNKS = Keyset("c", (Chunk.document_id, Chunk.chunk_index))


def _document_chunks(document_id: UUID) -> Select[Chunk]:
    return select(Chunk).where(
        Chunk.partition_key == partition_key_for(document_id),
        Chunk.document_id == document_id,
    )


def _collection_chunks(collection_id: UUID) -> Select[Chunk]:
    return select(Chunk).where(Chunk.collection_id == collection_id)


async def document_chunk_ids(session: AsyncSession, document_id: UUID) -> list[tuple[str, int]]:
    """A document's stored chunks as (stable id, tokens), in index order (one partition)."""
    rows = await session.execute(
        select(Chunk.stable_id, Chunk.tokens)
        .where(Chunk.partition_key == partition_key_for(document_id),
               Chunk.document_id == document_id)
        .order_by(Chunk.chunk_index)
    )
    return [(str(row[0]), int(row[1])) for row in rows]


async def list_document_chunks(
    session: AsyncSession, document_id: UUID, *, limit: int = 100, cursor: str | None = None
) -> Page[Chunk]:
    """A document's chunks in index order, `limit` at a time (one partition, one index)."""
    return await DOCUMENT_CHUNKS.page(
        session, _document_chunks(document_id), limit=limit, cursor=cursor
    )


async def list_collection_chunks(
    session: AsyncSession, collection_id: UUID, *, limit: int = 100, cursor: str | None = None
) -> Page[Chunk]:
    """A collection's chunks in chunk order (document, then index), `limit` at a time."""
    return await COLLECTION_CHUNKS.page(
        session, _collection_chunks(collection_id), limit=limit, cursor=cursor
    )


async def iter_collection_chunks(
    session: AsyncSession, collection_id: UUID, *, batch_size: int = 1000
) -> AsyncIterator[Chunk]:
    """Every chunk of a collection in chunk order, read in keyset batches (for exports)."""
    cursor: str | None = None
    while True:
        page = await list_collection_chunks(
            session, collection_id, limit=batch_size, cursor=cursor
        )
        for chunk in page.items:
            yield chunk
        # An export reads millions of rows: keep the identity map from growing with them.
        for chunk in page.items:
            if chunk in session:
                session.expunge(chunk)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def count_collection_chunks(session: AsyncSession, collection_id: UUID) -> int:
    """Chunks in a collection, from the documents' chunk counts (no scan of chunks)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Document.chunk_count), 0)).where(
            Document.collection_id == collection_id
        )
    )
    return int(total or 0)
