"""PostgreSQL plans of filtered chunk listings: a document's listing with every filter, and a
collection's listing narrowed to one document, still read one partition (as the application
sends them, and as a generic plan pruned at executor start-up).

The statement is captured as it reaches asyncpg while the real listing runs, and that exact
statement is EXPLAINed (see `test_storage_explain.py`, whose approach this follows).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from storage_helpers import create_collection, create_document, make_chunks, open_db
from test_storage_explain import Sent, _plan, _scanned_partitions, _sent_to_chunks

from chunkyard.settings import Settings
from chunkyard.storage.repositories import replace_document_chunks
from chunkyard.storage.repositories.chunk_filters import (
    ChunkFilters,
    list_collection_chunks_filtered,
    list_document_chunks_filtered,
)


async def _plans(connection: AsyncConnection, sent: Sent, name: str) -> list[dict[str, Any]]:
    """The statement's plan as the application runs it (a custom plan), and its generic plan
    (what a prepared statement gets after a few runs), both executed."""
    statement, parameters = sent
    custom = await connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) {statement}", parameters
    )
    await connection.exec_driver_sql(f"PREPARE {name} AS {statement}")
    await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    arguments = ", ".join(
        str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
        for value in parameters
    )
    generic = await connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) EXECUTE {name}({arguments})"
    )
    await connection.exec_driver_sql("RESET plan_cache_mode")
    return [_plan(custom.scalar_one()), _plan(generic.scalar_one())]


async def _setup(settings: Settings) -> tuple[UUID, list[UUID]]:
    async with open_db(settings) as (_, sessions), sessions() as session:
        collection = await create_collection(session)
        documents = [await create_document(session, collection) for _ in range(30)]
        for document in documents:
            await replace_document_chunks(session, document, make_chunks(12), "e" * 64)
        await session.commit()
        return collection.id, [d.id for d in documents]


async def _stored_in(connection: AsyncConnection, document_id: UUID) -> set[str]:
    result = await connection.execute(
        text("SELECT DISTINCT tableoid::regclass::text FROM chunks WHERE document_id = :d"),
        {"d": document_id},
    )
    return set(result.scalars().all())


async def test_filtered_listings_of_one_document_read_one_partition(
    postgres_settings: Settings,
) -> None:
    collection_id, documents = await _setup(postgres_settings)
    document_id = documents[3]
    every_filter = ChunkFilters(q="CHUNK 1", min_tokens=1, max_tokens=100, heading="part 1")
    async with open_db(postgres_settings) as (engine, sessions), sessions() as session:
        connection = await session.connection()
        expected = await _stored_in(connection, document_id)
        assert len(expected) == 1
        with _sent_to_chunks(engine, "SELECT") as sent:
            first = await list_document_chunks_filtered(
                session, document_id, every_filter, limit=1)
            second = await list_document_chunks_filtered(
                session, document_id, every_filter, limit=1, cursor=first.next_cursor)
            narrowed = await list_collection_chunks_filtered(
                session, collection_id, ChunkFilters(document_id=document_id, q="chunk"),
                limit=5)
        # "chunk 1", "chunk 10", "chunk 11" under "Part 1", "Part 10", "Part 11".
        assert [c.chunk_index for c in first.items + second.items] == [1, 10]
        assert [c.chunk_index for c in narrowed.items] == [0, 1, 2, 3, 4]
        assert len(sent) == 3, sent
        for i, query in enumerate(sent):
            for plan in await _plans(connection, query, f"chunkyard_filtered_{i}"):
                assert _scanned_partitions(plan) == expected, plan
        await session.rollback()
