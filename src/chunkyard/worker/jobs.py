"""The chunking job: an operation's documents, split into parts that workers run in parallel.

The same functions run in the in-process runner (`run_operation`: the parts one after another)
and in the Celery tasks of `tasks.py` (one task per part, on every worker process). Each owns
its sessions (short transactions, never a request's). The steps (SQL in `operations/parts.py`):

- plan (`plan_operation`): one transaction sets a pending operation running and splits its
  documents into parts (`operation_parts`: at most `job_part_documents` documents and, unless
  one is bigger, `job_part_bytes` bytes each). A second delivery plans nothing and hands back
  the parts not finished yet, to run or send again.
- claim (`run_part`): one transaction takes the part's lease (`lease_owner`, unique to this
  run of the job; `lease_expires_at`, from the database's clock) when the part is pending, or
  running with an expired or released lease (its job died or gave up). It counts an attempt,
  takes back from the operation's counters what the part had counted and resets the part's,
  so a job that takes over re-walks the part and counts each document once. A part another
  live job holds raises `PartBusy`; one that `job_max_attempts` jobs claimed and lost (their
  worker died) fails the operation. A heartbeat renews the lease every third of
  `job_lease_seconds`; once it cannot (taken over after a stall), the job stops
  (`operations/lease.py`).
- per document, one transaction on a connection held for the part: a document unchanged
  since its last chunking (content, configuration hash, chunker version) is counted done,
  with its chunks if this operation stored them (`chunked_by_operation_id`: a job that died
  got that far); any other is read, extracted and chunked in a worker thread, then
  `store_document_chunks` and the part's and operation's counters are written together. The
  counter updates are conditional on our lease and on the operation running, so once it is
  cancelled, failed or taken over the transaction rolls back, stores nothing, and the job
  stops. A document that cannot be extracted, chunked or stored fails alone, with a sentence
  (`policy.document_error`; never SQL or a traceback): any error of its own, `ChunkingError`,
  a missing blob or a bug alike; only a transient error (and what `reraise` picks) goes on
  to the part. A document whose text was made safe (`extract/safe_text.py`) is chunked and
  keeps the warning in its `error`. After each commit, the operation's state from the counter
  update's `RETURNING` goes to the progress bus.
- the end: the part completes, and the part that finishes last completes the operation
  (under the operation's row lock). An error for which `reraise(exc)` is true (the tasks'
  transient errors and soft time limit) releases the lease, gives its attempt back and
  propagates; any other fails the operation with its message (its other parts stop at their
  next document). A cancelled job (its runner stopped) releases its lease too.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import anyio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from chunkyard.core.types import Chunk
from chunkyard.documents.chunking import FileChunks, chunk_file_batches, warm_up
from chunkyard.documents.stored import StoredFile, stored_file_of
from chunkyard.extract.safe_text import safe_string
from chunkyard.kit.transient import is_transient
from chunkyard.operations import parts
from chunkyard.operations.events import ProgressBus
from chunkyard.operations.lease import Lease, PartBusy, SessionFactory, new_lease_owner
from chunkyard.operations.parts import CHUNKER_VERSION, Claim, Source
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import (
    Document,
    DocumentStatus,
    Operation,
    OperationKind,
    OperationPart,
    OperationStatus,
)
from chunkyard.storage.repositories import DocumentChunkWriter, DocumentNotFound
from chunkyard.worker.evaluation_job import Embed, EvaluationJob, thread_embed
from chunkyard.worker.job_process import JobProcesses
from chunkyard.worker.policy import decide, describe, document_error

__all__ = [
    "CHUNKER_VERSION",
    "PartBusy",
    "SessionFactory",
    "fail_operation",
    "fail_part",
    "plan_operation",
    "process_chunker",
    "process_embed",
    "run_operation",
    "run_part",
    "thread_chunker",
    "warm_up",
]

logger = logging.getLogger("chunkyard.worker")

ErrorFilter = Callable[[BaseException], bool]
T = TypeVar("T")
# Extracts and chunks one stored file (path, filename, configuration) off the event loop and
# hands its chunks over in batches, as they are made: in the capped job processes
# (`job_process.py`) in both modes, so a document that needs too much memory fails alone and
# the job's process never holds a whole document; in a worker thread where a test asks.
Chunker = Callable[[StoredFile, dict[str, Any]], AbstractAsyncContextManager[FileChunks]]

# A document's chunks are kept in the job's process until there are this many, or this much
# chunk text, then stored as they come: nearly every document is then written in one short
# transaction after its chunking, and only a larger one holds its write (SQLite's lock) while
# it is chunked.
BUFFERED_CHUNKS = 20_000
BUFFERED_CHARS = 8_000_000


def thread_chunker(limiter: anyio.CapacityLimiter | None = None) -> Chunker:
    """Chunk in worker threads of this process (bounded by `limiter`), with no memory cap."""

    @asynccontextmanager
    async def chunk(source: StoredFile, config: dict[str, Any]) -> AsyncIterator[FileChunks]:
        extracted, batches = await anyio.to_thread.run_sync(
            chunk_file_batches, source, config, limiter=limiter)

        async def stream() -> AsyncIterator[list[Chunk]]:
            while (batch := await anyio.to_thread.run_sync(
                    next, batches, None, limiter=limiter)) is not None:
                yield batch

        yield FileChunks(extracted.warnings, stream(), extracted.chars, extracted.pages)

    return chunk


def process_chunker(processes: JobProcesses) -> Chunker:
    """Chunk in `processes` (the capped job processes)."""
    return processes.chunk


def process_embed(processes: JobProcesses) -> Embed:
    """Embed (an evaluation's chunks and questions) in `processes`."""
    return processes.embed


async def run_operation(
    settings: Settings,
    operation_id: uuid.UUID,
    *,
    session_factory: SessionFactory | None = None,
    limiter: anyio.CapacityLimiter | None = None,
    bus: ProgressBus | None = None,
    chunker: Chunker | None = None,
    embed: Embed | None = None,
) -> str:
    """Plan the operation and run its parts one after another; returns the operation's status
    at the end. An error is handled as `policy.decide` says, as the Celery tasks do: a part
    another live job holds is waited out, a transient error retried with backoff (then the
    operation fails), anything else fails the operation."""
    async with _sessions(settings, session_factory) as factory:
        part_ids = await _following_policy(
            settings, f"operation {operation_id}",
            lambda: parts.plan(factory, settings, operation_id, bus),
            lambda message: parts.fail_operation(factory, operation_id, message, bus),
        )
        for part_id in part_ids or []:
            owner = new_lease_owner()
            status = await _following_policy(
                settings, f"part {part_id}",
                lambda part_id=part_id, owner=owner: run_part(  # type: ignore[misc]
                    settings, part_id, session_factory=factory, limiter=limiter, bus=bus,
                    owner=owner, reraise=is_transient, chunker=chunker, embed=embed),
                lambda message, part_id=part_id, owner=owner: parts.fail_part(  # type: ignore[misc]
                    factory, part_id, message, owner, bus),
            )
            if status != OperationStatus.RUNNING:
                break  # finished, cancelled or failed: the other parts stop too
        async with factory() as session:
            found = await session.scalar(
                select(Operation.status).where(Operation.id == operation_id)
            )
    return str(found) if found is not None else "missing"


async def _following_policy(
    settings: Settings,
    what: str,
    attempt: Callable[[], Awaitable[T]],
    fail: Callable[[str], Awaitable[bool]],
) -> T | None:
    """`attempt()` until it returns, waiting and retrying as `policy.decide` says; None
    once the verdict is to fail (`fail(message)` records it, best effort)."""
    retries = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            verdict = decide(exc, retries, settings)
            if verdict.action == "fail":
                logger.error("%s: %s", what, verdict.message,
                             exc_info=not is_transient(exc))
                try:
                    await fail(verdict.message)
                except Exception:
                    logger.exception("%s: could not record its failure", what)
                return None
            if verdict.action == "retry":
                retries += 1
                logger.warning("%s: %s; retry %d of %d in %.1f s", what, verdict.message,
                               retries, settings.job_max_retries, verdict.delay)
            else:
                logger.info("%s; trying again in %.1f s", verdict.message, verdict.delay)
            await asyncio.sleep(verdict.delay)


async def plan_operation(
    settings: Settings,
    operation_id: uuid.UUID,
    *,
    session_factory: SessionFactory | None = None,
    bus: ProgressBus | None = None,
) -> list[uuid.UUID]:
    """Start a pending operation (split into parts); the ids of its parts left to run."""
    async with _sessions(settings, session_factory) as factory:
        return await parts.plan(factory, settings, operation_id, bus)


async def run_part(
    settings: Settings,
    part_id: uuid.UUID,
    *,
    session_factory: SessionFactory | None = None,
    limiter: anyio.CapacityLimiter | None = None,
    bus: ProgressBus | None = None,
    owner: str | None = None,
    reraise: ErrorFilter | None = None,
    chunker: Chunker | None = None,
    embed: Embed | None = None,
) -> str:
    """Run one part to its end; returns its operation's status. Raises `PartBusy` when
    another live job runs it, and the errors that `reraise` picks. Without `session_factory`
    the job makes and disposes of its own engine. `owner` names this run's lease (default: a
    new name)."""
    async with _sessions(settings, session_factory) as factory:
        lease = Lease(factory, part_id, owner or new_lease_owner(), settings.job_lease_seconds)
        return await _PartJob(settings, factory, lease, chunker or thread_chunker(limiter), bus,
                              reraise, embed or thread_embed(limiter)).run()


async def fail_operation(
    settings: Settings,
    operation_id: uuid.UUID,
    message: str,
    *,
    session_factory: SessionFactory | None = None,
    bus: ProgressBus | None = None,
) -> bool:
    """Fail a pending or running operation with `message`; True if it did."""
    async with _sessions(settings, session_factory) as factory:
        return await parts.fail_operation(factory, operation_id, message, bus)


async def fail_part(
    settings: Settings,
    part_id: uuid.UUID,
    message: str,
    *,
    owner: str | None = None,
    session_factory: SessionFactory | None = None,
    bus: ProgressBus | None = None,
) -> bool:
    """Fail a part's operation with `message` unless another live job holds the part (see
    `parts.fail_part`); True if it did."""
    async with _sessions(settings, session_factory) as factory:
        return await parts.fail_part(factory, part_id, message, owner, bus)


class _StoreFailed(Exception):
    """Storing a document's chunks failed (its `__cause__` says how)."""


async def _storing(step: Awaitable[T]) -> T:
    try:
        return await step
    except DocumentNotFound:
        raise
    except Exception as exc:
        raise _StoreFailed from exc


@asynccontextmanager
async def _sessions(
    settings: Settings, given: SessionFactory | None
) -> AsyncIterator[SessionFactory]:
    if given is not None:
        yield given
        return
    engine = create_engine(settings)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


class _PartJob:
    def __init__(
        self,
        settings: Settings,
        factory: SessionFactory,
        lease: Lease,
        chunker: Chunker,
        bus: ProgressBus | None,
        reraise: ErrorFilter | None,
        embed: Embed,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.lease = lease
        self.chunker = chunker
        self.bus = bus
        self.reraise = reraise
        self.embed = embed

    async def run(self) -> str:
        claim = await parts.claim(self.factory, self.settings, self.lease, self.bus)
        if claim is None:
            return await self._status()
        if claim.attempt > 1:
            logger.info("operation %s part %d: attempt %d, %s takes it over",
                        claim.operation_id, claim.number, claim.attempt, self.lease.owner)
        self.lease.start()
        try:
            try:
                await self._walk(claim)
            except Exception as exc:
                if self.reraise is not None and self.reraise(exc):
                    raise
                logger.exception("operation %s failed (part %d)", claim.operation_id,
                                 claim.number)
                await parts.fail_part(self.factory, self.lease.part_id, describe(exc),
                                      self.lease.owner, self.bus)
        except BaseException:
            # Retried, timed out or stopped: let the next delivery take over without waiting
            # for the lease to expire (if the database is reachable, else it expires).
            await self.lease.stop()
            await self.lease.release()
            raise
        await self.lease.stop()
        return await self._status()

    async def _walk(self, claim: Claim) -> None:
        """Every document of the part, then the part's end; returns early once the part is
        no longer ours or the operation no longer runs."""
        engine = self.factory.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("the job's session factory must be bound to an engine")
        async with (
            engine.connect() as connection,
            AsyncSession(bind=connection, expire_on_commit=False) as session,
        ):
            if claim.kind == OperationKind.EVALUATION:
                await EvaluationJob(self, self.embed).walk(session, claim)
                return
            for _, source in claim.sources:
                if self.lease.lost or not await self._process(session, claim, source):
                    return
            _, row = await parts.finish(session, self.lease, claim.operation_id)
            await session.commit()
        await parts.announce(self.bus, row)

    async def _process(self, session: AsyncSession, claim: Claim, source: Source | None) -> bool:
        """One document in one transaction; False once the job must stop."""
        if source is None:
            return await self.count_document(session, claim, failed=1)  # deleted since
        if source.unchanged:
            return await self.count_document(session, claim, done=1, chunks=source.chunked_here)
        stored = stored_file_of(source, self.settings.data_dir,
                                max_extracted_chars=self.settings.max_extracted_chars)
        try:
            count = await self._chunk_and_store(session, claim, source, stored)
        except DocumentNotFound:
            await session.rollback()
            return await self.count_document(session, claim, failed=1)
        except _StoreFailed as failed:
            cause = failed.__cause__
            assert isinstance(cause, Exception)
            if self.goes_on(cause):
                raise cause from None
            await session.rollback()
            return await self._fail_document(
                session, claim, source, document_error(cause, storing=True))
        except Exception as exc:
            if self.goes_on(exc):
                raise
            await session.rollback()
            return await self._fail_document(session, claim, source, document_error(exc))
        return await self.count_document(session, claim, done=1, chunks=count)

    async def _chunk_and_store(
        self, session: AsyncSession, claim: Claim, source: Source, stored: StoredFile
    ) -> int:
        """Chunk the document and store its chunks in the open transaction (not committed);
        how many. Up to `BUFFERED_CHUNKS` (and `BUFFERED_CHARS`) are kept before the first
        write, the rest are written batch by batch as they come. A storing error comes
        wrapped in `_StoreFailed`, a chunking error as it is."""
        writer = DocumentChunkWriter(
            session, source.id, config_id=claim.config_id, config_hash=claim.config_hash,
            chunker_version=CHUNKER_VERSION, content_sha256=source.content_sha256,
            operation_id=claim.operation_id)
        held: list[Chunk] = []
        held_chars = tokens = 0
        async with self.chunker(stored, claim.config) as chunked:
            async for batch in chunked.batches:
                held_chars += sum(len(chunk.text) for chunk in batch)
                tokens += sum(chunk.tokens for chunk in batch)
                if (writer.began or len(held) + len(batch) > BUFFERED_CHUNKS
                        or held_chars > BUFFERED_CHARS):
                    await _storing(self._write(writer, held, batch))
                    held = []
                else:
                    held.extend(batch)
            warnings = chunked.warnings
            measured: dict[str, Any] = {"text_chars": chunked.chars, "pages": chunked.pages,
                                        "chunk_tokens": tokens}
        await _storing(self._write(writer, held, [], last=True))
        if warnings:
            measured["error"] = " ".join(f"Warning: {w}." for w in warnings)
        await _storing(session.execute(
            update(Document)
            .where(Document.id == source.id)
            .values(measured)
            .execution_options(synchronize_session=False)
        ))
        return writer.count

    @staticmethod
    async def _write(
        writer: DocumentChunkWriter, held: list[Chunk], batch: list[Chunk], *,
        last: bool = False,
    ) -> None:
        """Store what was held and `batch`; `last`: the document's end."""
        if not writer.began:
            await writer.begin(len(held) + len(batch) if last else None)
        if held:
            await writer.add(held)
        if batch:
            await writer.add(batch)
        if last:
            await writer.finish()

    def goes_on(self, exc: Exception) -> bool:
        """Whether an error inside one document is the part's (transient, or what `reraise`
        picks), not the document's own."""
        return is_transient(exc) or (self.reraise is not None and self.reraise(exc))

    async def _fail_document(
        self, session: AsyncSession, claim: Claim, source: Source, reason: str
    ) -> bool:
        """Mark the document failed with `reason` and count it, in its own transaction."""
        logger.warning("operation %s: document %s (%s) failed: %s", claim.operation_id,
                       source.id, source.filename, reason)
        await dialect_for(session).begin_write(session)
        await session.execute(
            update(Document)
            .where(Document.id == source.id)
            .values(status=DocumentStatus.FAILED, error=safe_string(reason))
            .execution_options(synchronize_session=False)
        )
        return await self.count_document(session, claim, failed=1)

    async def count_document(
        self, session: AsyncSession, claim: Claim, *, done: int = 0, failed: int = 0,
        chunks: int = 0,
    ) -> bool:
        """Count the document and commit its transaction, then tell listeners; False (and
        nothing stored) once the operation is cancelled or failed, or the part taken over."""
        row = await parts.count(session, self.lease, claim.operation_id, done=done,
                                failed=failed, chunks=chunks)
        if row is None:
            await session.rollback()
            return False
        await session.commit()
        await parts.announce(self.bus, row)
        return True

    async def _status(self) -> str:
        """The status of the part's operation."""
        async with self.factory() as session:
            status = await session.scalar(
                select(Operation.status)
                .join(OperationPart, OperationPart.operation_id == Operation.id)
                .where(OperationPart.id == self.lease.part_id)
            )
        return str(status) if status is not None else "missing"
