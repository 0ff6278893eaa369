"""PostgreSQL query plans: document-scoped reads and writes touch one partition; collection
pages walk the collection index in chunk order with no sort."""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from storage_helpers import create_collection, create_document, make_chunks, open_db

from chunkyard.settings import Settings
from chunkyard.storage.keys import partition_key_for, partition_table_name
from chunkyard.storage.models import Chunk
from chunkyard.storage.repositories import replace_document_chunks
from chunkyard.storage.repositories.chunks import (
    collection_chunks_statement,
    document_chunks_statement,
)

PARTITION = re.compile(r"^chunks_p\d\d$")


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def _scanned_partitions(plan: dict[str, Any]) -> set[str]:
    return {n["Relation Name"] for n in _nodes(plan)
            if PARTITION.match(n.get("Relation Name", ""))}


async def _explain(
    connection: AsyncConnection, statement: ClauseElement, *, analyze: bool = False
) -> dict[str, Any]:
    """EXPLAIN a statement as asyncpg runs it: a prepared statement with bound parameters."""
    compiled = statement.compile(dialect=connection.dialect)
    params = compiled.construct_params()
    positional = tuple(params[name] for name in compiled.positiontup or ())
    options = "ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON" if analyze else "FORMAT JSON"
    result = await connection.exec_driver_sql(f"EXPLAIN ({options}) {compiled.string}",
                                              positional)
    return _plan(result.scalar_one())


def _plan(raw: Any) -> dict[str, Any]:
    document = json.loads(raw) if isinstance(raw, str) else raw
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def _literal_sql(statement: ClauseElement) -> str:
    return str(statement.compile(dialect=postgresql.dialect(),
                                 compile_kwargs={"literal_binds": True}))


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
    expected = partition_table_name(partition_key_for(document_id))
    async with open_db(postgres_settings) as (engine, _), engine.connect() as connection:
        # Literal values: the planner prunes to one partition when it plans.
        statement = document_chunks_statement(document_id, after_index=3, limit=100)
        raw = await connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) {_literal_sql(statement)}"
        )
        plan = _plan(raw.scalar_one())
        assert _scanned_partitions(plan) == {expected}

        # Bound parameters, as the application sends it (asyncpg's extended protocol).
        plan = await _explain(connection, statement, analyze=True)
        assert _scanned_partitions(plan) == {expected}, plan
        assert all("Index" in n["Node Type"] for n in _nodes(plan)
                   if n.get("Relation Name") == expected), plan

        # A generic plan (what a prepared statement gets after a few runs) cannot prune at
        # plan time; the executor prunes at start-up: 99 subplans removed, one scanned.
        compiled = statement.compile(dialect=connection.dialect)
        await connection.exec_driver_sql(f"PREPARE chunkyard_page AS {compiled.string}")
        await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        values = compiled.construct_params()
        arguments = ", ".join(
            f"'{values[name]}'" if isinstance(values[name], UUID) else str(values[name])
            for name in compiled.positiontup or ()
        )
        raw = await connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) "
            f"EXECUTE chunkyard_page({arguments})"
        )
        plan = _plan(raw.scalar_one())
        assert any(n.get("Subplans Removed") == 99 for n in _nodes(plan)), plan
        assert _scanned_partitions(plan) == {expected}, plan


async def test_replacing_deletes_from_one_partition(postgres_settings: Settings) -> None:
    _, documents = await _setup(postgres_settings)
    document_id = documents[1]
    expected = partition_table_name(partition_key_for(document_id))
    statement = delete(Chunk).where(
        Chunk.partition_key == partition_key_for(document_id), Chunk.document_id == document_id
    )
    async with open_db(postgres_settings) as (engine, _), engine.connect() as connection:
        plan = await _explain(connection, statement)
        assert _scanned_partitions(plan) == {expected}


async def test_collection_pages_walk_the_index_without_sorting(
    postgres_settings: Settings,
) -> None:
    collection_id, documents = await _setup(postgres_settings)
    middle = sorted(documents)[15]
    async with open_db(postgres_settings) as (engine, _), engine.connect() as connection:
        await connection.exec_driver_sql("SET enable_seqscan = off")  # tiny tables
        for after in (None, (middle, 5)):
            statement = collection_chunks_statement(collection_id, after=after, limit=101)
            plan = await _explain(connection, statement)
            nodes = _nodes(plan)
            types = [n["Node Type"] for n in nodes]
            assert "Sort" not in types, types
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
