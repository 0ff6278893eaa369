"""Stable chunk ids in storage: what the writer stores, and revision 0007 filling in the ids of
chunks stored before it (in SQL on PostgreSQL, in Python on SQLite: the same rule), up and down."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from storage_helpers import CONFIG, create_collection, create_document, make_chunks, open_db

from chunkyard.core.stable_ids import stable_chunk_id, stable_chunk_ids
from chunkyard.core.types import Chunk as CoreChunk
from chunkyard.settings import Settings
from chunkyard.storage import migrate
from chunkyard.storage.keys import partition_key_for, uuid7
from chunkyard.storage.models import Chunk
from chunkyard.storage.repositories import (
    config_hash_for,
    document_chunk_ids,
    replace_document_chunks,
)


def test_the_rule_in_words() -> None:
    document = UUID("0190d1c6-1234-7000-8000-00000000abcd")
    data = f"{document}|{'c' * 64}|2|Zoë's chunk".encode()
    assert stable_chunk_id(document, "c" * 64, "Zoë's chunk", 2) == (
        hashlib.sha256(data).hexdigest()[:32])
    ids = stable_chunk_ids(document, "c" * 64, ["a", "b", "a", "a"])
    assert ids == [stable_chunk_id(document, "c" * 64, t, n)
                   for t, n in (("a", 0), ("b", 0), ("a", 1), ("a", 2))]
    assert len(set(ids)) == 4


def _repeating(count: int) -> list[CoreChunk]:
    """Chunks whose texts repeat (every third is the same text), offsets indexing a text."""
    chunks = make_chunks(count)
    for chunk in chunks[::3]:
        chunk.text = "the same text"
        chunk.end = chunk.start + len(chunk.text)
    return chunks


async def _stored_ids(settings: Settings, document_id: UUID) -> list[str]:
    async with open_db(settings) as (_, sessions), sessions() as session:
        rows = await session.scalars(
            select(Chunk.stable_id)
            .where(Chunk.partition_key == partition_key_for(document_id),
                   Chunk.document_id == document_id)
            .order_by(Chunk.chunk_index))
        return list(rows)


async def test_the_writer_stores_each_chunk_with_its_stable_id(settings: Settings) -> None:
    config_hash = config_hash_for(CONFIG)
    async with open_db(settings) as (_, sessions), sessions() as session:
        document = await create_document(session, await create_collection(session))
        await session.commit()
    chunks = _repeating(30)

    async def store(items: list[CoreChunk]) -> list[str]:
        async with open_db(settings) as (_, sessions), sessions() as session:
            await replace_document_chunks(session, document.id, items, config_hash, config=CONFIG)
            await session.commit()
        return await _stored_ids(settings, document.id)

    first = await store(chunks)
    assert first == stable_chunk_ids(document.id, config_hash, [c.text for c in chunks])
    assert len(set(first)) == 30
    assert await store(chunks) == first  # stored again: the same ids
    # A chunk inserted at the start shifts every index but changes no other id.
    shifted = [CoreChunk(0, "new first chunk", 0, 15, 4, {})] + [
        CoreChunk(c.index + 1, c.text, c.start, c.end, c.tokens, c.metadata) for c in chunks]
    assert (await store(shifted))[1:] == first


# -- revision 0007 ------------------------------------------------------------------------------


async def _load_revision_0006(settings: Settings) -> dict[UUID, tuple[str, list[str]]]:
    """Two documents with chunks (some texts repeated) written with revision 0006's schema;
    per document, its configuration hash and its chunk texts in order."""
    sqlite = settings.resolved_database_url.startswith("sqlite")

    def uid(value: UUID) -> Any:
        return value.hex if sqlite else value

    user, collection = uuid7(), uuid7()
    configs = [{"strategy": "recursive", "params": {"chunk_size": n}} for n in (64, 128)]
    loaded: dict[UUID, tuple[str, list[str]]] = {}
    async with open_db(settings) as (_, sessions), sessions() as session:
        await session.execute(
            text("INSERT INTO users (id, username, password_hash) VALUES (:id, :u, 'x')"),
            {"id": uid(user), "u": f"u-{secrets.token_hex(4)}"})
        await session.execute(
            text("INSERT INTO collections (id, owner_id, name, config) "
                 "VALUES (:id, :owner, 'c', :config)"),
            {"id": uid(collection), "owner": uid(user), "config": json.dumps(configs[0])})
        next_id = 1
        for n, config in enumerate(configs):
            config_hash = config_hash_for(config)
            await session.execute(
                text("INSERT INTO chunk_configs (id, config_hash, config) "
                     "VALUES (:id, :hash, :config)"),
                {"id": n + 1, "hash": config_hash, "config": json.dumps(config)})
            document = uuid7()
            await session.execute(
                text("INSERT INTO documents (id, collection_id, partition_key, filename, "
                     "size_bytes, content_sha256) VALUES (:id, :c, :k, 'f.md', 10, :sha)"),
                {"id": uid(document), "c": uid(collection), "k": partition_key_for(document),
                 "sha": "0" * 64})
            texts = [("Répété ✓" if i % 4 == 0 else f"Chunk {i} of {n}: ünïcødé")
                     for i in range(25)]
            for i, body in enumerate(texts):
                await session.execute(
                    text("INSERT INTO chunks (id, partition_key, collection_id, document_id, "
                         "config_id, chunk_index, text, start_offset, end_offset, tokens, "
                         "metadata) VALUES (:id, :k, :c, :d, :config, :i, :t, 0, 5, 2, '{}')"),
                    {"id": next_id, "k": partition_key_for(document), "c": uid(collection),
                     "d": uid(document), "config": n + 1, "i": i, "t": body})
                next_id += 1
            loaded[document] = (config_hash, texts)
        await session.commit()
    return loaded


async def _columns(settings: Settings) -> set[str]:
    async with open_db(settings) as (engine, _), engine.connect() as connection:
        def names(sync: Any) -> set[str]:
            from sqlalchemy import inspect
            return {c["name"] for c in inspect(sync).get_columns("chunks")}
        return await connection.run_sync(names)


async def test_revision_0007_fills_in_the_ids_up_and_down(fresh_settings: Settings) -> None:
    await migrate.upgrade(fresh_settings, revision="0006")
    loaded = await _load_revision_0006(fresh_settings)
    assert "stable_id" not in await _columns(fresh_settings)

    up = await migrate.upgrade(fresh_settings, revision="0007")
    assert [s.to_revision for s in up.steps] == ["0007"]
    assert up.steps[0].checked is not None and up.steps[0].checked.rows["chunks"] == 50
    expected = {d: stable_chunk_ids(d, h, texts) for d, (h, texts) in loaded.items()}
    for document, ids in expected.items():
        assert await _stored_ids(fresh_settings, document) == ids
        assert len(set(ids)) == 25

    down = await migrate.downgrade(fresh_settings, revision="0006")
    assert [s.to_revision for s in down.steps] == ["0006"]
    assert "stable_id" not in await _columns(fresh_settings)
    async with open_db(fresh_settings) as (engine, _), engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM chunks")) == 50

    await migrate.upgrade(fresh_settings)  # to head: later revisions keep the ids
    assert await migrate.check(fresh_settings) == []
    for document, ids in expected.items():
        assert await _stored_ids(fresh_settings, document) == ids


async def test_a_documents_stored_ids_are_read_from_its_one_partition(
    postgres_settings: Settings,
) -> None:
    from test_storage_explain import (
        _explain,
        _one,
        _scanned_partitions,
        _sent_to_chunks,
        _setup,
        _stored_in,
    )

    _, documents = await _setup(postgres_settings)
    async with open_db(postgres_settings) as (engine, sessions), sessions() as session:
        expected = await _stored_in(session, documents[2])
        with _sent_to_chunks(engine, "SELECT") as sent:
            stored = await document_chunk_ids(session, documents[2])
        assert [i for i, _ in stored] == stable_chunk_ids(
            documents[2], "e" * 64, [c.text for c in make_chunks(12)])
        plan = await _explain(await session.connection(), _one(sent), analyze=True)
        assert _scanned_partitions(plan) == expected == {next(iter(expected))}, plan
