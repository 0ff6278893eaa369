"""Any error inside one document's extract-chunk-store fails that document with a sentence:
never the operation, never SQL or a traceback in an `error` (issue 12, point 2).

The job runs in this process (`run_operation`, the embedded runner's code, which the Celery
tasks share) on each backend's database, with a chunker that breaks on some documents the
ways a hostile file can break the real one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from api_helpers import Api, create_collection, in_db, user_headers
from operation_helpers import text_file, upload
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.core.types import Chunk
from chunkyard.documents.chunking import FileChunks
from chunkyard.documents.stored import StoredFile
from chunkyard.storage.models import Collection, Document, Operation, OperationStatus
from chunkyard.worker.jobs import run_operation, thread_chunker
from chunkyard.worker.policy import describe, document_error

FORBIDDEN = ("SELECT", "INSERT", "UPDATE", "[SQL", "Traceback", "File \"", "sqlalche.me")


def new_operation(api: Api, collection_id: str) -> uuid.UUID:
    """A pending operation over the collection, made as the API makes one, but not queued."""

    async def insert(session: AsyncSession) -> uuid.UUID:
        collection = await session.get(Collection, uuid.UUID(collection_id))
        assert collection is not None
        operation = Operation(
            collection_id=collection.id, owner_id=collection.owner_id,
            status=OperationStatus.PENDING, documents_total=5, documents_done=0,
            documents_failed=0, chunks_created=0, config=dict(collection.config))
        session.add(operation)
        await session.flush()
        return operation.id

    return in_db(api.settings, insert)


def breaking_chunker() -> Any:
    real = thread_chunker()

    @asynccontextmanager
    async def chunk(source: StoredFile, config: dict[str, Any]) -> AsyncIterator[FileChunks]:
        name = source.filename
        if name == "bug.txt":
            raise KeyError("a bug in a strategy")
        if name == "encode.txt":
            raise UnicodeEncodeError("utf-8", "a\ud800", 1, 2, "surrogates not allowed")
        if name == "memory.txt":
            raise MemoryError
        async with real(source, config) as result:
            if name != "nul.txt":
                yield result
                return

            async def with_nul() -> AsyncIterator[list[Chunk]]:
                # Text the rule of safe_text.py would have replaced.
                first = True
                async for batch in result.batches:
                    if first:
                        c = batch[0]
                        batch[0] = Chunk(c.index, "\x00" + c.text[1:], c.start, c.end,
                                         c.tokens, c.metadata)
                        first = False
                    yield batch

            yield FileChunks(result.warnings, with_nul())

    return chunk


def test_each_broken_document_fails_alone_with_a_sentence(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    names = ["bug.txt", "encode.txt", "memory.txt", "nul.txt", "good.txt"]
    upload(api, headers, collection["id"], [(n, text_file(n)) for n in names])
    operation_id = new_operation(api, collection["id"])

    status = asyncio.run(run_operation(api.settings, operation_id, chunker=breaking_chunker()))

    async def read(session: AsyncSession) -> tuple[Operation, dict[str, Document]]:
        operation = await session.get(Operation, operation_id)
        assert operation is not None
        documents = (await session.scalars(select(Document).where(
            Document.collection_id == uuid.UUID(collection["id"])))).all()
        return operation, {d.filename: d for d in documents}

    operation, documents = in_db(api.settings, read)
    assert status == "completed", operation.error
    failed = {name for name, d in documents.items() if d.status == "failed"}
    assert operation.error == (f"{len(failed)} of 5 documents failed; each failed "
                               "document's error says why")
    nul_fails = api.backend == "postgresql"  # SQLite stores a NUL; PostgreSQL refuses it
    assert failed == {"bug.txt", "encode.txt", "memory.txt"} | ({"nul.txt"} if nul_fails
                                                                 else set())
    assert documents["good.txt"].status == "chunked"
    assert (operation.documents_done, operation.documents_failed) == (5 - len(failed),
                                                                      len(failed))
    assert documents["bug.txt"].error == "this document could not be chunked (KeyError: 'a " \
                                         "bug in a strategy')"
    assert documents["memory.txt"].error == "this document could not be chunked (MemoryError)"
    assert "UnicodeEncodeError" in (documents["encode.txt"].error or "")
    if nul_fails:
        assert (documents["nul.txt"].error or "").startswith(
            "the database refused to store this document's chunks (")
    for document in documents.values():
        error = document.error or ""
        assert "\n" not in error and not any(word in error for word in FORBIDDEN), error


@pytest.mark.parametrize("backend", ["sqlite"])
def test_describe_never_gives_sql(backend: str, sqlite_settings: Any) -> None:
    from sqlalchemy import text

    from chunkyard.storage.engine import create_engine

    async def error() -> BaseException:
        engine = create_engine(sqlite_settings)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT * FROM no_such_table"))
        except Exception as exc:
            return exc
        finally:
            await engine.dispose()
        raise AssertionError("no error")

    exc = asyncio.run(error())
    assert "SELECT" in str(exc)
    assert describe(exc) == "OperationalError: no such table: no_such_table"
    assert document_error(exc) == ("the database refused to store this document's chunks "
                                   "(OperationalError: no such table: no_such_table)")
