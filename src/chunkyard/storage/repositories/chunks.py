"""Chunks: replacing a document's chunks in one transaction, and keyset-paginated reads.

Every document-scoped statement carries `partition_key = partition_key_for(document_id)` so
PostgreSQL touches one partition. Collection-scoped reads walk the index
`(collection_id, document_id, chunk_index)` of every partition (a Merge Append of index scans),
so any page costs the same as the first: "chunk order" in a collection is document by document
(document ids are time-ordered, so in upload order), and within a document by chunk index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import Select, String, Uuid, bindparam, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

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

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


class StorageError(Exception):
    """Base of the storage layer's domain errors."""


class DocumentNotFound(StorageError, LookupError):
    """The document does not exist (or was deleted while we waited for its lock)."""


class InvalidPageRequest(StorageError, ValueError):
    """A bad `limit` or a cursor that this listing did not issue."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None


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
    path, three statements and no ORM objects.

    One UPDATE records on the document what the chunks were made from (status `chunked`,
    `chunk_count`, `config_hash`, `chunker_version`, `chunked_sha256`: the content hash the
    chunks were made from, default the document's; `chunked_by_operation_id`: `operation_id`)
    and locks it (a row lock on PostgreSQL; SQLite's write lock); then its old chunks are
    deleted and the new ones inserted (COPY on PostgreSQL). Because the lock is held until
    the caller commits, running this twice, even at the same time, leaves exactly one set of
    chunks. Raises `DocumentNotFound` when the document does not exist (or was deleted while
    we waited for its lock).
    """
    dialect = dialect_for(session)
    await dialect.begin_write(session)
    connection = await session.connection()
    locked = (
        await connection.execute(
            _RECORD_CHUNKS,
            {
                "p_document": document_id,
                "p_chunk_count": len(chunks),
                "p_config_hash": config_hash,
                "p_chunker_version": chunker_version,
                "p_content_sha256": content_sha256,
                "p_chunked_at": utcnow(),
                "p_operation": operation_id,
            },
        )
    ).first()
    if locked is None:
        raise DocumentNotFound(f"document {document_id} does not exist")
    key, collection_id = int(locked.partition_key), locked.collection_id
    await connection.execute(_DELETE_CHUNKS, {"p_key": key, "p_document": document_id})
    await dialect.insert_chunks(session, [
        ChunkRow(
            partition_key=key,
            collection_id=collection_id,
            document_id=document_id,
            config_id=config_id,
            chunk_index=chunk.index,
            text=chunk.text,
            start_offset=chunk.start,
            end_offset=chunk.end,
            tokens=chunk.tokens,
            metadata=chunk.metadata,
        )
        for chunk in chunks
    ])


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


def _encode_cursor(kind: str, *values: Any) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_cursor(cursor: str, kind: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidPageRequest("the cursor is not one this listing issued") from None
    if not isinstance(values, list) or len(values) != size + 1 or values[0] != kind:
        raise InvalidPageRequest("the cursor is not one this listing issued")
    return values[1:]


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidPageRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")


def document_chunks_statement(
    document_id: UUID, *, after_index: int | None = None, limit: int = 100
) -> Select[Chunk]:
    """The query behind `list_document_chunks`: one partition, one index range."""
    stmt = select(Chunk).where(
        Chunk.partition_key == partition_key_for(document_id),
        Chunk.document_id == document_id,
    )
    if after_index is not None:
        stmt = stmt.where(Chunk.chunk_index > after_index)
    return stmt.order_by(Chunk.chunk_index).limit(limit)


def collection_chunks_statement(
    collection_id: UUID, *, after: tuple[UUID, int] | None = None, limit: int = 100
) -> Select[Chunk]:
    """The query behind `list_collection_chunks`: an index range in every partition."""
    stmt = select(Chunk).where(Chunk.collection_id == collection_id)
    if after is not None:
        # A row-value comparison: an index range condition on (document_id, chunk_index).
        stmt = stmt.where(tuple_(Chunk.document_id, Chunk.chunk_index) > after)
    return stmt.order_by(Chunk.document_id, Chunk.chunk_index).limit(limit)


async def list_document_chunks(
    session: AsyncSession, document_id: UUID, *, limit: int = 100, cursor: str | None = None
) -> Page[Chunk]:
    """A document's chunks in index order, `limit` at a time (one partition, one index)."""
    _check_limit(limit)
    after_index = None
    if cursor is not None:
        (after_index,) = _decode_cursor(cursor, "d", 1)
        if not isinstance(after_index, int):
            raise InvalidPageRequest("the cursor is not one this listing issued")
    stmt = document_chunks_statement(document_id, after_index=after_index, limit=limit + 1)
    items = list((await session.scalars(stmt)).all())
    if len(items) <= limit:
        return Page(items=items, next_cursor=None)
    items = items[:limit]
    return Page(items=items, next_cursor=_encode_cursor("d", items[-1].chunk_index))


async def list_collection_chunks(
    session: AsyncSession, collection_id: UUID, *, limit: int = 100, cursor: str | None = None
) -> Page[Chunk]:
    """A collection's chunks in chunk order (document, then index), `limit` at a time."""
    _check_limit(limit)
    after = None
    if cursor is not None:
        document_hex, after_index = _decode_cursor(cursor, "c", 2)
        try:
            after_document = UUID(hex=document_hex)
        except (TypeError, ValueError, AttributeError):
            raise InvalidPageRequest("the cursor is not one this listing issued") from None
        if not isinstance(after_index, int):
            raise InvalidPageRequest("the cursor is not one this listing issued")
        after = (after_document, after_index)
    stmt = collection_chunks_statement(collection_id, after=after, limit=limit + 1)
    items = list((await session.scalars(stmt)).all())
    if len(items) <= limit:
        return Page(items=items, next_cursor=None)
    items = items[:limit]
    last = items[-1]
    next_cursor = _encode_cursor("c", last.document_id.hex, last.chunk_index)
    return Page(items=items, next_cursor=next_cursor)


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
