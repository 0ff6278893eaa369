"""PostgreSQL query plans of the statements the repository sends: document-scoped reads and
writes touch one partition; collection pages walk the collection index in chunk order with no
sort.

Each statement is captured as it reaches asyncpg (SQL text and bound parameters, through a
`before_cursor_execute` listener) while the real repository function runs, and that exact
statement is EXPLAINed, so a change to what the repository sends shows in the plan. The
partition a document's rows are expected in is where PostgreSQL stored them (`tableoid`), not
what the key function says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from storage_helpers import create_collection, create_document, make_chunks, open_db

from chunkyard.settings import Settings
from chunkyard.storage.repositories import (
    delete_document_chunks,
    list_collection_chunks,
    list_document_chunks,
    replace_document_chunks,
)

PARTITION = re.compile(r"^chunks_p\d\d$")
Sent = tuple[str, tuple[Any, ...]]  # SQL text as the driver gets it, and its parameters


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def _scanned_partitions(plan: dict[str, Any]) -> set[str]:
    return {n["Relation Name"] for n in _nodes(plan)
            if PARTITION.match(n.get("Relation Name", ""))}


@contextmanager
def _sent_to_chunks(engine: AsyncEngine, verb: str) -> Iterator[list[Sent]]:
    """Every `verb` statement on the chunks table that `engine` sends while the block runs."""
    sent: list[Sent] = []
    pattern = re.compile(rf"^\s*{verb}\b.*\bFROM chunks\b", re.IGNORECASE | re.DOTALL)

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if pattern.match(statement):
            sent.append((statement, tuple(parameters or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def _one(sent: list[Sent]) -> Sent:
    assert len(sent) == 1, sent
    return sent[0]


async def _explain(
    connection: AsyncConnection, sent: Sent, *, analyze: bool = False
) -> dict[str, Any]:
    """EXPLAIN a captured statement as asyncpg runs it: prepared, with its bound parameters."""
    statement, parameters = sent
    options = "ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON" if analyze else "FORMAT JSON"
    result = await connection.exec_driver_sql(f"EXPLAIN ({options}) {statement}", parameters)
    return _plan(result.scalar_one())


def _plan(raw: Any) -> dict[str, Any]:
    document = json.loads(raw) if isinstance(raw, str) else raw
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


async def _stored_in(session: AsyncSession, document_id: UUID) -> set[str]:
    """The child tables that hold the document's chunk rows, as PostgreSQL stored them."""
    result = await session.execute(
        text("SELECT DISTINCT tableoid::regclass::text FROM chunks WHERE document_id = :d"),
        {"d": document_id},
    )
    return set(result.scalars().all())


async def _setup(settings: Settings) -> tuple[UUID, list[UUID]]:
    async with open_db(settings) as (_, sessions), sessions() as session:
        collection = await create_collection(session)
        documents = [await create_document(session, collection) for _ in range(30)]
        for document in documents:
            await replace_document_chunks(session, document, make_chunks(12), "e" * 64)
        await session.commit()
        return collection.id, [d.id for d in documents]


async def test_document_pages_scan_one_partition(postgres_settings: Settings) -> None:
    _, documents = await _setup(postgres_settings)
    document_id = documents[0]
    async with open_db(postgres_settings) as (engine, sessions), sessions() as session:
        expected = await _stored_in(session, document_id)
        assert len(expected) == 1
        first = await list_document_chunks(session, document_id, limit=3)
        with _sent_to_chunks(engine, "SELECT") as sent:
            page = await list_document_chunks(session, document_id, limit=3,
                                              cursor=first.next_cursor)
        assert [c.chunk_index for c in page.items] == [3, 4, 5]
        page_query = _one(sent)
        connection = await session.connection()

        # As the application sends it (asyncpg's extended protocol: a custom plan, pruned
        # when it is planned): one partition, read through an index.
        plan = await _explain(connection, page_query, analyze=True)
        assert _scanned_partitions(plan) == expected, plan
        assert all("Index" in n["Node Type"] for n in _nodes(plan)
                   if n.get("Relation Name") in expected), plan

        # A generic plan (what a prepared statement gets after a few runs) cannot prune at
        # plan time; the executor prunes at start-up: 99 subplans removed, one scanned.
        statement, parameters = page_query
        await connection.exec_driver_sql(f"PREPARE chunkyard_page AS {statement}")
        await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        arguments = ", ".join(
            str(value) if isinstance(value, int) else f"'{value}'" for value in parameters
        )
        raw = await connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) "
            f"EXECUTE chunkyard_page({arguments})"
        )
        plan = _plan(raw.scalar_one())
        assert any(n.get("Subplans Removed") == 99 for n in _nodes(plan)), plan
        assert _scanned_partitions(plan) == expected, plan


async def test_replacing_and_deleting_touch_one_partition(postgres_settings: Settings) -> None:
    _, documents = await _setup(postgres_settings)
    document_id = documents[1]
    async with open_db(postgres_settings) as (engine, sessions), sessions() as session:
        expected = await _stored_in(session, document_id)
        assert len(expected) == 1
        # The DELETE the chunking jobs run (`store_document_chunks`, wrapped here)...
        with _sent_to_chunks(engine, "DELETE") as sent:
            await replace_document_chunks(session, document_id, make_chunks(7), "f" * 64)
        replacing = _one(sent)
        # ...and the one a document's deletion runs.
        with _sent_to_chunks(engine, "DELETE") as sent:
            assert await delete_document_chunks(session, document_id) == 7
        deleting = _one(sent)
        connection = await session.connection()
        for delete in (replacing, deleting):
            plan = await _explain(connection, delete)
            assert _scanned_partitions(plan) == expected, (delete, plan)
        await session.rollback()


async def test_collection_pages_walk_the_index_without_sorting(
    postgres_settings: Settings,
) -> None:
    collection_id, _ = await _setup(postgres_settings)
    async with open_db(postgres_settings) as (engine, sessions), sessions() as session:
        connection = await session.connection()
        await connection.exec_driver_sql("SET enable_seqscan = off")  # tiny tables
        with _sent_to_chunks(engine, "SELECT") as sent:
            first = await list_collection_chunks(session, collection_id, limit=100)
            second = await list_collection_chunks(session, collection_id, limit=100,
                                                  cursor=first.next_cursor)
        assert len(first.items) == len(second.items) == 100
        assert len(sent) == 2, sent
        for query, after in zip(sent, (None, first.next_cursor), strict=True):
            plan = await _explain(connection, query)
            nodes = _nodes(plan)
            types = [n["Node Type"] for n in nodes]
            assert not [t for t in types if "Sort" in t], types  # nor an Incremental Sort
            assert "Merge Append" in types, types
            scans = [n for n in nodes if PARTITION.match(n.get("Relation Name", ""))]
            assert len(scans) == 100
            assert all(
                n["Node Type"] == "Index Scan"
                and n["Index Name"].endswith("_collection_id_document_id_chunk_index_idx")
                for n in scans
            ), scans[0]
            if after is not None:
                # The keyset condition is an index condition: each scan starts at the cursor.
                assert all("document_id" in n.get("Index Cond", "") for n in scans)
