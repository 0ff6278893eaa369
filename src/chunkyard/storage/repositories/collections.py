"""Deleting collections and documents together with everything stored under them."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.models import Chunk, Collection, Document
from chunkyard.storage.repositories.chunks import delete_document_chunks


async def delete_collection(session: AsyncSession, collection_id: UUID) -> bool:
    """Delete a collection, its documents, chunks and operations; False if it did not exist.

    Chunks go first with one statement per partition over the collection index (rather than
    one trigger call per document); documents and operations follow (the trigger on documents
    then still catches chunks a concurrent writer committed in between). Nothing is
    committed: commit the session afterwards.
    """
    await dialect_for(session).begin_write(session)
    await session.execute(
        delete(Chunk)
        .where(Chunk.collection_id == collection_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Document)
        .where(Document.collection_id == collection_id)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        delete(Collection)
        .where(Collection.id == collection_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def delete_document(session: AsyncSession, document_id: UUID) -> bool:
    """Delete a document and its chunks; False if it did not exist. Commit afterwards."""
    await dialect_for(session).begin_write(session)
    await delete_document_chunks(session, document_id)
    result = await session.execute(
        delete(Document)
        .where(Document.id == document_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
