"""Factories for the worker tests: a Celery-backed service with its workers, documents that
take a while to chunk, an operation's parts and the processes running them, what the library
makes of a document, and a TCP proxy that can cut a worker off from its database."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from api_helpers import API, Api, create_collection, in_db, user_headers
from fastapi.testclient import TestClient
from operation_helpers import text_file, upload
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

import dbsupport
import workersupport
from chunkyard.api.app import create_app
from chunkyard.documents import blobs
from chunkyard.documents.chunking import chunk_document
from chunkyard.documents.stored import read_document
from chunkyard.settings import Settings
from chunkyard.storage import migrate
from chunkyard.storage.models import Chunk, Document, Operation, OperationPart

CONFIG = {"strategy": "recursive", "params": {"chunk_size": 128}}


@dataclass
class Service:
    """The app (TestClient) and the settings its workers share."""

    settings: Settings
    stack: ExitStack
    workers: list[workersupport.Worker] = field(default_factory=list)
    api: Api = field(init=False)

    def worker(self, concurrency: int = 2, **overrides: Any) -> workersupport.Worker:
        """Start one more worker (its settings may differ, e.g. another database URL)."""
        settings = self.settings.model_copy(update=overrides)
        worker = workersupport.Worker(settings, self.settings.data_dir.parent / "workers",
                                      concurrency=concurrency)
        self.stack.callback(worker.stop)
        self.workers.append(worker)
        return worker.start()


@contextmanager
def celery_service(
    databases: dbsupport.Databases, *, workers: int = 1, concurrency: int = 2, **overrides: Any
) -> Iterator[Service]:
    """A fresh PostgreSQL database, Redis, a queue of its own, `workers` workers and the app.
    On failure the workers' logs are printed (pytest shows them with the failure)."""
    settings = databases.fresh("postgresql")
    migrate.run_upgrade(settings)
    settings = workersupport.celery_settings(settings, **overrides)
    with ExitStack() as stack:
        stack.callback(workersupport.remove_queue_keys, settings)
        service = Service(settings, stack)
        for _ in range(workers):
            service.worker(concurrency)
        client = stack.enter_context(TestClient(create_app(settings)))
        service.api = Api("postgresql", settings, client)
        try:
            yield service
        except BaseException:
            for worker in service.workers:
                print(f"---- {worker.log_path}\n{worker.log()[-6000:]}")
            raise


def collection_with_documents(
    service: Service, count: int, paragraphs: int = 10_000
) -> tuple[dict[str, str], dict[str, Any], list[dict[str, Any]]]:
    """A user's headers, a collection and `count` documents (10,000 paragraphs, 1.5 MB: about
    a quarter of a second each to chunk and store)."""
    headers = user_headers(service.api)
    collection = create_collection(service.api, headers, config=CONFIG)
    documents = upload(service.api, headers, collection["id"],
                       [(f"doc{i}.md", text_file(f"doc{i}", paragraphs)) for i in range(count)])
    return headers, collection, documents


def wait_for(service: Service, headers: dict[str, str], operation_id: str,
             done: int, timeout: float = 30.0) -> dict[str, Any]:
    """The operation once it has `done` documents done (it must still be running)."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = service.api.client.get(
            f"{API}/operations/{operation_id}", headers=headers).json()
        if body["documents_done"] >= done:
            assert body["status"] == "running", body
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def operation_row(settings: Settings, operation_id: str) -> Operation:
    async def read(session: AsyncSession) -> Operation:
        found = await session.scalar(
            select(Operation).where(Operation.id == uuid.UUID(operation_id)))
        assert found is not None
        return found

    return in_db(settings, read)


def operation_parts(settings: Settings, operation_id: str) -> list[OperationPart]:
    """The operation's parts, in order."""

    async def read(session: AsyncSession) -> list[OperationPart]:
        found = await session.scalars(
            select(OperationPart).where(OperationPart.operation_id == uuid.UUID(operation_id))
            .order_by(OperationPart.number))
        return list(found.all())

    return in_db(settings, read)


def lease_pid(owner: str | None) -> int:
    """The process named in a lease (`host:pid:unique`)."""
    assert owner is not None
    return int(owner.split(":")[1])


def running_part(settings: Settings, operation_id: str, done: int = 1,
                 timeout: float = 30.0) -> OperationPart:
    """A part of the operation that is running and has counted `done` documents already."""
    deadline = time.monotonic() + timeout
    while True:
        parts = operation_parts(settings, operation_id)
        for part in parts:
            if part.status == "running" and part.documents_done >= done:
                return part
        assert time.monotonic() < deadline, [(p.status, p.documents_done) for p in parts]
        time.sleep(0.02)


def stored_chunks(settings: Settings, document_id: str) -> list[tuple[int, str, int, int, int]]:
    async def read(session: AsyncSession) -> list[tuple[int, str, int, int, int]]:
        rows = await session.execute(
            select(Chunk.chunk_index, Chunk.text, Chunk.start_offset, Chunk.end_offset,
                   Chunk.tokens)
            .where(Chunk.document_id == uuid.UUID(document_id))
            .order_by(Chunk.chunk_index, Chunk.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]

    return in_db(settings, read)


def expected_chunks(
    settings: Settings, document: dict[str, Any], config: dict[str, Any] = CONFIG
) -> list[tuple[int, str, int, int, int]]:
    """What the library makes of the stored document: (index, text, start, end, tokens)."""
    path = settings.data_dir / blobs.relative_blob_path(document["content_sha256"])
    chunks = chunk_document(read_document(path, document["filename"]), config)
    return [(i, c.text, c.start, c.end, c.tokens) for i, c in enumerate(chunks)]


def assert_one_correct_set_each(
    service: Service, documents: list[dict[str, Any]], final: dict[str, Any], failed: int = 0
) -> None:
    """Every document has exactly the library's chunks, once; the counters add up (with
    `failed` more documents that failed)."""
    total = 0
    for document in documents:
        stored = stored_chunks(service.settings, document["id"])
        assert stored == expected_chunks(service.settings, document), document["filename"]
        total += len(stored)

        async def count(session: AsyncSession, doc_id: str = document["id"]) -> int:
            row = await session.scalar(
                select(Document.chunk_count).where(Document.id == uuid.UUID(doc_id)))
            return int(row or 0)

        assert in_db(service.settings, count) == len(stored)
    assert final["status"] == "completed", final
    assert final["documents_total"] == len(documents) + failed, final
    assert final["documents_done"] == len(documents), final
    assert final["documents_failed"] == failed, final
    assert final["chunks_created"] == total, final
    # The operation's counters are its parts' counters, added up.
    parts = operation_parts(service.settings, final["id"])
    assert parts and all(p.status == "completed" for p in parts), parts
    assert sum(p.documents_done for p in parts) == final["documents_done"]
    assert sum(p.documents_failed for p in parts) == final["documents_failed"]
    assert sum(p.chunks_created for p in parts) == final["chunks_created"]


class TcpProxy:
    """127.0.0.1:port forwarded to a server, in a thread of its own; `cut()` closes the port
    and every connection through it (as a database going away would), `restore()` reopens."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()
        self.restore()

    @classmethod
    def to_database(cls, settings: Settings) -> TcpProxy:
        url = make_url(settings.resolved_database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def url_for(self, settings: Settings) -> str:
        url = make_url(settings.resolved_database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def restore(self) -> None:
        async def listen() -> None:
            self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
            self.port = self.server.sockets[0].getsockname()[1]

        self._call(listen())

    def cut(self) -> None:
        async def close() -> None:
            if self.server is not None:
                self.server.close()
                self.server = None
            for writer in list(self.connections):
                writer.transport.abort()
            self.connections.clear()

        self._call(close())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self.connections -= {writer, up_writer}
