"""The chunking job: `run_operation(settings, operation_id)` chunks an operation's documents.

The job owns its sessions (one short transaction per step, never the request's), so the same
function can run in the in-process runner or, later, inside a Celery task. Its steps:

- pending -> running (conditional: a cancelled or already started operation is left alone);
- per document: skipped (counted done) when its stored chunks were made from the same content,
  configuration hash and chunker version; otherwise its blob is read, extracted and chunked in
  a worker thread, and `replace_document_chunks` plus the operation's counters are written in
  one transaction, so `GET /operations/{id}` shows progress and a retried job leaves one set
  of chunks. A document that cannot be extracted or chunked (`ChunkingError`, including
  `ExtractionError`, or a missing blob) is marked failed with its reason; the job goes on;
- between documents the operation's status is read again: once cancelled, the job stops;
- the end: completed, or failed with the message of an unexpected error. Final updates are
  conditional on `running`, so a concurrent cancel always wins.

After every committed step the job reads its operation back and publishes it on the progress
bus (when given one), so WebSocket clients see each document land.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import chunkyard
from chunkyard.core.types import ChunkingError
from chunkyard.documents import blobs
from chunkyard.documents.chunking import chunk_file as _chunk_file
from chunkyard.operations.events import ProgressBus, event_for
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import Document, DocumentStatus, Operation, OperationStatus, utcnow
from chunkyard.storage.repositories import (
    DocumentNotFound,
    config_hash_for,
    replace_document_chunks,
)

logger = logging.getLogger("chunkyard.worker")

# Stored with each document's chunks: a new chunker version re-chunks unchanged documents.
CHUNKER_VERSION = chunkyard.__version__
MAX_ERROR_CHARS = 2000

SessionFactory = async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class _Source:
    """What the job needs of a document, read in a short transaction."""

    id: uuid.UUID
    filename: str
    storage_path: str
    content_sha256: str
    unchanged: bool


async def run_operation(
    settings: Settings,
    operation_id: uuid.UUID,
    *,
    session_factory: SessionFactory | None = None,
    limiter: anyio.CapacityLimiter | None = None,
    bus: ProgressBus | None = None,
) -> str:
    """Run one operation to its end; returns its final status. Without `session_factory`
    (e.g. in a Celery task), the job makes and disposes of its own engine."""
    if session_factory is not None:
        return await _Job(settings, session_factory, operation_id, limiter, bus).run()
    engine = create_engine(settings)
    try:
        job = _Job(settings, create_session_factory(engine), operation_id, limiter, bus)
        return await job.run()
    finally:
        await engine.dispose()


class _Job:
    def __init__(
        self,
        settings: Settings,
        factory: SessionFactory,
        operation_id: uuid.UUID,
        limiter: anyio.CapacityLimiter | None,
        bus: ProgressBus | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.operation_id = operation_id
        self.limiter = limiter
        self.bus = bus

    async def run(self) -> str:
        started = await self._start()
        if started is None:
            return await self._status()
        config, document_ids = started
        await self._announce()
        try:
            for document_id in document_ids:
                if await self._status() != OperationStatus.RUNNING:
                    break
                await self._process(document_id, config)
        except Exception as exc:
            logger.exception("operation %s failed", self.operation_id)
            message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            await self._finish(OperationStatus.FAILED, message)
        else:
            await self._finish(OperationStatus.COMPLETED, None)
        await self._announce()
        return await self._status()

    # -- steps ----------------------------------------------------------------------------

    async def _start(self) -> tuple[dict[str, Any], list[uuid.UUID]] | None:
        """pending -> running; the documents to chunk (None: nothing to do)."""
        async with self.factory() as session:
            await dialect_for(session).begin_write(session)
            operation = await session.scalar(
                select(Operation).where(Operation.id == self.operation_id)
            )
            if operation is None or operation.status != OperationStatus.PENDING:
                return None
            if operation.document_ids is not None:
                ids = [uuid.UUID(d) for d in operation.document_ids]
            else:
                ids = list(
                    (
                        await session.scalars(
                            select(Document.id)
                            .where(Document.collection_id == operation.collection_id)
                            .order_by(Document.id)
                        )
                    ).all()
                )
            result = await session.execute(
                update(Operation)
                .where(Operation.id == self.operation_id,
                       Operation.status == OperationStatus.PENDING)
                .values(status=OperationStatus.RUNNING, started_at=utcnow(),
                        documents_total=len(ids))
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                return None
            config = dict(operation.config)
            await session.commit()
        return config, ids

    async def _announce(self) -> None:
        """Publish the operation's committed state (a no-op without a bus)."""
        if self.bus is None:
            return
        async with self.factory() as session:
            operation = await session.scalar(
                select(Operation).where(Operation.id == self.operation_id)
            )
            event = event_for(operation) if operation is not None else None
        if event is not None:
            await self.bus.publish(self.operation_id, event)

    async def _status(self) -> str:
        async with self.factory() as session:
            status = await session.scalar(
                select(Operation.status).where(Operation.id == self.operation_id)
            )
        return str(status) if status is not None else OperationStatus.FAILED

    async def _process(self, document_id: uuid.UUID, config: dict[str, Any]) -> None:
        config_hash = config_hash_for(config)
        source = await self._source(document_id, config_hash)
        if source is None:
            await self._count(failed=1)  # deleted since the operation started
            return
        if source.unchanged:
            await self._count(done=1)
            return
        try:
            chunks = await anyio.to_thread.run_sync(
                _chunk_file,
                self.settings.data_dir / source.storage_path,
                source.filename,
                config,
                limiter=self.limiter,
            )
        except (ChunkingError, OSError) as exc:
            await self._fail_document(source.id, _reason(exc))
            return
        if await self._status() != OperationStatus.RUNNING:
            return  # cancelled while this document was being chunked: store nothing
        async with self.factory() as session:
            try:
                await replace_document_chunks(
                    session, source.id, chunks, config_hash, config=config,
                    chunker_version=CHUNKER_VERSION, content_sha256=source.content_sha256,
                )
            except DocumentNotFound:
                await session.rollback()
                await self._count(failed=1)
                return
            if not await self._count_in(session, done=1, chunks=len(chunks)):
                await session.rollback()  # cancelled meanwhile: store nothing
                return
            await session.commit()
        await self._announce()

    async def _source(self, document_id: uuid.UUID, config_hash: str) -> _Source | None:
        async with self.factory() as session:
            document = await session.scalar(select(Document).where(Document.id == document_id))
        if document is None:
            return None
        unchanged = (
            document.status == DocumentStatus.CHUNKED
            and document.chunked_sha256 == document.content_sha256
            and document.config_hash == config_hash
            and document.chunker_version == CHUNKER_VERSION
        )
        storage_path = document.storage_path or blobs.relative_blob_path(document.content_sha256)
        return _Source(
            document.id, document.filename, storage_path, document.content_sha256, unchanged
        )

    async def _fail_document(self, document_id: uuid.UUID, reason: str) -> None:
        async with self.factory() as session:
            await dialect_for(session).begin_write(session)
            await session.execute(
                update(Document)
                .where(Document.id == document_id)
                .values(status=DocumentStatus.FAILED, error=reason, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if not await self._count_in(session, failed=1):
                await session.rollback()
                return
            await session.commit()
        await self._announce()

    async def _count(self, *, done: int = 0, failed: int = 0) -> None:
        async with self.factory() as session:
            await dialect_for(session).begin_write(session)
            if not await self._count_in(session, done=done, failed=failed):
                return  # cancelled: nothing to commit (the session rolls back on close)
            await session.commit()
        await self._announce()

    async def _count_in(
        self, session: AsyncSession, *, done: int = 0, failed: int = 0, chunks: int = 0
    ) -> bool:
        """Add to the counters while the operation is still running; False once cancelled,
        so the caller rolls back and a cancel is never followed by more progress."""
        result = await session.execute(
            update(Operation)
            .where(Operation.id == self.operation_id,
                   Operation.status == OperationStatus.RUNNING)
            .values(
                documents_done=Operation.documents_done + done,
                documents_failed=Operation.documents_failed + failed,
                chunks_created=Operation.chunks_created + chunks,
            )
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    async def _finish(self, status: OperationStatus, error: str | None) -> None:
        async with self.factory() as session:
            await dialect_for(session).begin_write(session)
            await session.execute(
                update(Operation)
                .where(Operation.id == self.operation_id,
                       Operation.status == OperationStatus.RUNNING)
                .values(status=status, error=error, finished_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            await session.commit()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"the stored file cannot be read: {exc.strerror or type(exc).__name__}"
    return (str(exc) or type(exc).__name__)[:MAX_ERROR_CHARS]
