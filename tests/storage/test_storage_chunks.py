"""Writing and reading chunks, on PostgreSQL and SQLite: one set per document, keyset pages."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import delete, func, select, text
from storage_helpers import (
    CONFIG,
    create_collection,
    create_document,
    create_operation,
    make_chunks,
    open_db,
)

from chunkyard.settings import Settings
from chunkyard.storage.keys import partition_key_for, uuid7
from chunkyard.storage.models import Chunk, ChunkConfig, Collection, Document, Operation
from chunkyard.storage.repositories import (
    DocumentNotFound,
    InvalidPageRequest,
    config_hash_for,
    count_collection_chunks,
    delete_collection,
    delete_document,
    ensure_chunk_config,
    iter_collection_chunks,
    list_collection_chunks,
    list_document_chunks,
    replace_document_chunks,
)

HASH_A = config_hash_for(CONFIG)
HASH_B = config_hash_for({"strategy": "character", "params": {"chunk_size": 64}})


async def _chunk_rows(settings: Settings, document_id: object) -> list[tuple[object, ...]]:
    async with open_db(settings) as (_, sessions), sessions() as session:
        result = await session.execute(
            select(Chunk.chunk_index, Chunk.text, Chunk.partition_key)
            .where(Chunk.document_id == document_id)
            .order_by(Chunk.chunk_index)
        )
        return [tuple(row) for row in result.all()]


async def test_replace_stores_chunks_and_updates_the_document(settings: Settings) -> None:
    chunks = make_chunks(5)
    async with open_db(settings) as (_, sessions):
        async with sessions() as session:
            collection = await create_collection(session)
            document = await create_document(session, collection)
            await session.commit()
        async with sessions() as session:
            updated = await replace_document_chunks(
                session, document.id, chunks, HASH_A, config=CONFIG, chunker_version="1.2",
                content_sha256="b" * 64,
            )
            await session.commit()
        assert updated.status == "chunked"
        assert updated.chunk_count == 5
        assert updated.config_hash == HASH_A
        assert updated.chunker_version == "1.2"
        assert updated.chunked_sha256 == "b" * 64
        assert updated.error is None
        async with sessions() as session:
            stored = await session.get(Document, document.id)
            assert stored is not None
            assert stored.chunk_count == 5 and stored.status == "chunked"
            assert isinstance(stored.chunked_at, datetime) and stored.chunked_at.tzinfo
            assert stored.created_at.tzinfo is not None
            page = await list_document_chunks(session, document.id)
            config = await session.scalar(
                select(ChunkConfig).where(ChunkConfig.config_hash == HASH_A)
            )
    assert config is not None and config.config == CONFIG
    assert [(c.chunk_index, c.text, c.start_offset, c.end_offset, c.tokens, c.meta)
            for c in page.items] == [
        (c.index, c.text, c.start, c.end, c.tokens, c.metadata) for c in chunks
    ]
    assert all(c.partition_key == document.partition_key == partition_key_for(document.id)
               for c in page.items)
    assert all(c.collection_id == collection.id and c.config_id == config.id
               for c in page.items)
    assert page.next_cursor is None


async def test_replacing_twice_leaves_one_set(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions):
        async with sessions() as session:
            document = await create_document(session, await create_collection(session))
            await session.commit()
        for label, count, config_hash in (("first", 8, HASH_A), ("second", 3, HASH_B)):
            async with sessions() as session:
                await replace_document_chunks(
                    session, document.id, make_chunks(count, label), config_hash
                )
                await session.commit()
        async with sessions() as session:
            stored = await session.get(Document, document.id)
            assert stored is not None and stored.chunk_count == 3
            assert stored.config_hash == HASH_B
    rows = await _chunk_rows(settings, document.id)
    assert [r[0] for r in rows] == [0, 1, 2]
    assert all(str(r[1]).startswith("second") for r in rows)


async def test_replacing_twice_at_once_leaves_one_set(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions):
        async with sessions() as session:
            collection = await create_collection(session)
            documents = [await create_document(session, collection) for _ in range(3)]
            await session.commit()

        async def replace(document: Document, label: str, count: int) -> None:
            async with sessions() as session:
                await replace_document_chunks(
                    session, document.id, make_chunks(count, label), HASH_A
                )
                await asyncio.sleep(0.01)  # hold the lock while the other one waits
                await session.commit()

        for document in documents:
            await asyncio.gather(replace(document, "left", 40), replace(document, "right", 25))
        for document in documents:
            async with sessions() as session:
                stored = await session.get(Document, document.id)
                assert stored is not None
                count = stored.chunk_count
            rows = await _chunk_rows(settings, document.id)
            labels = {str(r[1]).split()[0] for r in rows}
            assert len(labels) == 1, labels
            assert len(rows) == count == (40 if labels == {"left"} else 25)
            assert [r[0] for r in rows] == list(range(count))


async def test_replace_on_a_missing_document(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions), sessions() as session:
        with pytest.raises(DocumentNotFound):
            await replace_document_chunks(session, uuid7(), make_chunks(2), HASH_A)


async def test_replace_with_no_chunks_empties_the_document(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions):
        async with sessions() as session:
            document = await create_document(session, await create_collection(session))
            await replace_document_chunks(session, document, make_chunks(4), HASH_A)
            await session.commit()
        async with sessions() as session:
            updated = await replace_document_chunks(session, document, [], HASH_A)
            await session.commit()
    assert updated.chunk_count == 0
    assert await _chunk_rows(settings, document.id) == []


async def test_document_pages(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions), sessions() as session:
        document = await create_document(session, await create_collection(session))
        await replace_document_chunks(session, document, make_chunks(250), HASH_A)
        await session.commit()
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            page = await list_document_chunks(session, document.id, limit=100, cursor=cursor)
            pages += 1
            seen += [c.chunk_index for c in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert pages == 3
        assert seen == list(range(250))
        exact = await list_document_chunks(session, document.id, limit=250)
        assert len(exact.items) == 250 and exact.next_cursor is None
        empty = await list_document_chunks(session, uuid7())
        assert empty.items == [] and empty.next_cursor is None


async def test_collection_pages_in_chunk_order(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions), sessions() as session:
        collection = await create_collection(session)
        other = await create_collection(session)
        documents = [await create_document(session, collection) for _ in range(4)]
        stranger = await create_document(session, other)
        for n, document in enumerate(documents):
            await replace_document_chunks(session, document, make_chunks(5 + n, f"d{n}"), HASH_A)
        await replace_document_chunks(session, stranger, make_chunks(9, "other"), HASH_A)
        await session.commit()

        expected = [
            (document.id, i)
            for document in sorted(documents, key=lambda d: d.id)
            for i in range(5 + documents.index(document))
        ]
        # Documents are listed in id order, and ids are time-ordered: upload order.
        assert [d.id for d in documents] == sorted(d.id for d in documents)
        seen = []
        cursor = None
        while True:
            page = await list_collection_chunks(session, collection.id, limit=7, cursor=cursor)
            assert len(page.items) <= 7
            seen += [(c.document_id, c.chunk_index) for c in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == expected
        streamed = [(c.document_id, c.chunk_index)
                    async for c in iter_collection_chunks(session, collection.id, batch_size=4)]
        assert streamed == expected
        assert await count_collection_chunks(session, collection.id) == len(expected)


@pytest.mark.parametrize(
    "cursor", ["", "not base64!", "W10", "WyJjIiwiMTIzIiwwXQ", "WyJkIiwxXQ"]
)
async def test_bad_cursors_are_refused(settings: Settings, cursor: str) -> None:
    # "W10" is [], "WyJjIiwiMTIzIiwwXQ" is ["c","123",0] (a bad uuid), "WyJkIiwxXQ" is a
    # document cursor (["d",1]), which a collection listing did not issue.
    async with open_db(settings) as (_, sessions), sessions() as session:
        with pytest.raises(InvalidPageRequest):
            await list_collection_chunks(session, uuid7(), cursor=cursor)


async def test_limits_are_checked(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions), sessions() as session:
        for limit in (0, 1001):
            with pytest.raises(InvalidPageRequest, match="limit"):
                await list_document_chunks(session, uuid7(), limit=limit)
        with pytest.raises(InvalidPageRequest):
            await list_document_chunks(session, uuid7(), cursor="WyJjIiwiMTIzIiwwXQ")


async def test_deleting_a_collection_deletes_everything_under_it(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions):
        async with sessions() as session:
            doomed = await create_collection(session)
            kept = await create_collection(session)
            for collection in (doomed, kept):
                for _ in range(3):
                    document = await create_document(session, collection)
                    await replace_document_chunks(session, document, make_chunks(6), HASH_A)
                await create_operation(session, collection)
            await session.commit()
        async with sessions() as session:
            assert await delete_collection(session, doomed.id)
            await session.commit()
        async with sessions() as session:
            assert not await delete_collection(session, doomed.id)

            async def count(model: type, column: object, value: object) -> int:
                return int(await session.scalar(
                    select(func.count()).select_from(model).where(column == value)) or 0)

            assert await count(Collection, Collection.id, doomed.id) == 0
            assert await count(Document, Document.collection_id, doomed.id) == 0
            assert await count(Chunk, Chunk.collection_id, doomed.id) == 0
            assert await count(Operation, Operation.collection_id, doomed.id) == 0
            assert await count(Document, Document.collection_id, kept.id) == 3
            assert await count(Chunk, Chunk.collection_id, kept.id) == 18
            assert await count(Operation, Operation.collection_id, kept.id) == 1


async def test_deleting_documents_by_any_route_deletes_their_chunks(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions):
        async with sessions() as session:
            collection = await create_collection(session)
            by_function, by_sql, by_cascade = [
                await create_document(session, collection) for _ in range(3)
            ]
            other = await create_collection(session)
            by_collection_cascade = await create_document(session, other)
            for document in (by_function, by_sql, by_cascade, by_collection_cascade):
                await replace_document_chunks(session, document, make_chunks(4), HASH_A)
            await session.commit()
        async with sessions() as session:
            assert await delete_document(session, by_function.id)
            # Plain SQL, bypassing the repositories: the trigger removes the chunks.
            await session.execute(delete(Document).where(Document.id == by_sql.id))
            # A collection deleted by SQL: documents go by foreign key, chunks by trigger.
            await session.execute(delete(Collection).where(Collection.id == other.id))
            await session.commit()
        for document in (by_function, by_sql, by_collection_cascade):
            assert await _chunk_rows(settings, document.id) == []
        assert len(await _chunk_rows(settings, by_cascade.id)) == 4


async def test_chunk_configs_are_stored_once(settings: Settings) -> None:
    config = {"strategy": "markdown", "params": {"chunk_size": 256, "n": uuid7().hex}}
    config_hash = config_hash_for(config)
    async with open_db(settings) as (_, sessions), sessions() as session:
        first = await ensure_chunk_config(session, config_hash)
        assert await ensure_chunk_config(session, config_hash, config) == first
        await session.commit()
        stored = await session.get(ChunkConfig, first)
        assert stored is not None and stored.config == config
    assert config_hash_for({"b": 1, "a": [1, 2]}) == config_hash_for({"a": [1, 2], "b": 1})


async def test_duplicate_chunk_index_is_rejected(settings: Settings) -> None:
    chunks = make_chunks(2)
    chunks[1].index = 0
    async with open_db(settings) as (_, sessions), sessions() as session:
        document = await create_document(session, await create_collection(session))
        document_id = document.id
        await session.commit()
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            await replace_document_chunks(session, document, chunks, HASH_A)
        await session.rollback()
        stored = await session.get(Document, document_id)
        assert stored is not None and stored.chunk_count == 0


async def test_partition_key_stored_with_documents_and_chunks(settings: Settings) -> None:
    async with open_db(settings) as (_, sessions), sessions() as session:
        collection = await create_collection(session)
        documents = [await create_document(session, collection) for _ in range(20)]
        for document in documents:
            await replace_document_chunks(session, document, make_chunks(2), HASH_A)
        await session.commit()
        rows = (await session.execute(text(
            "SELECT d.id, d.partition_key, c.partition_key FROM documents d "
            "JOIN chunks c ON c.document_id = d.id WHERE d.collection_id = :c"
        ), {"c": collection.id.hex if settings.resolved_database_url.startswith("sqlite")
            else collection.id})).all()
    assert len(rows) == 40
    assert len({r[1] for r in rows}) > 5  # one collection, many partitions
    for _, document_key, chunk_key in rows:
        assert document_key == chunk_key
