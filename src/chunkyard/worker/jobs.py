"""The chunking job: `run_operation(settings, operation_id)` chunks an operation's documents.

The job owns its sessions (one short transaction per step, never the request's), so the same
function runs in the in-process runner and inside the Celery task. Its steps:

- claim: one conditional UPDATE takes the operation's lease (`lease_owner`, unique to this
  run of the job, and `lease_expires_at`) when the operation is pending, or running with an
  expired or released lease (its job died or gave up), or already ours. The claim sets it
  running, counts an attempt and resets the counters, so a job that takes over re-walks the
  documents and counts each one once. A running operation whose lease another live job holds
  raises `OperationBusy` (try again once that lease could have expired); a finished one is
  left alone, and one that `job_max_attempts` jobs have claimed and lost (their worker died:
  killed at the hard time limit, out of memory) is failed, so a job that kills its worker is
  not delivered for ever. Times come from the database's clock, so workers on several hosts
  agree on when a lease expires;
- while the job runs, a heartbeat renews the lease every third of `job_lease_seconds`; once
  it cannot (the operation was cancelled, or taken over after a stall), the job stops;
- per document: skipped (counted done) when its stored chunks were made from the same content,
  configuration hash and chunker version; when this very operation made them (a job that died
  got that far), their chunks also count in `chunks_created`. Otherwise its blob is read,
  extracted and chunked in a worker thread, and `replace_document_chunks` (recording this
  operation on the document) plus the operation's counters are written in one transaction,
  so `GET /operations/{id}` shows progress and any number of retries or takeovers leave one
  set of chunks. A document that cannot be extracted or chunked (`ChunkingError`, including
  `ExtractionError`, or a missing blob) is marked failed with its reason; the job goes on;
- between documents the operation's status and lease are read again: once it is cancelled or
  no longer ours, the job stops. Every write is conditional on `running` and on our lease, so
  a concurrent cancel always wins and a job that lost its lease stores nothing more;
- errors: one for which `reraise(exc)` is true (the Celery task passes its transient errors and
  its soft time limit, see `is_transient`) releases the lease (and gives its attempt back)
  and propagates, leaving the operation running for a retry or for the caller to fail; any
  other unexpected error fails the operation with its message. A cancelled job (its runner
  stopped) releases its lease too;
- the end: completed, or failed.

After every committed step the job reads its operation back and publishes it on the progress
bus (when given one), so WebSocket clients see each document land.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import redis.exceptions
from sqlalchemy import ColumnElement, and_, func, literal, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import chunkyard
from chunkyard.core.types import ChunkingError
from chunkyard.documents import blobs
from chunkyard.documents.chunking import chunk_file as _chunk_file
from chunkyard.operations.events import ProgressBus, event_for
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import (
    Document,
    DocumentStatus,
    Operation,
    OperationStatus,
    UTCDateTime,
    utcnow,
)
from chunkyard.storage.repositories import (
    DocumentNotFound,
    config_hash_for,
    replace_document_chunks,
)

logger = logging.getLogger("chunkyard.worker")

# Stored with each document's chunks: a new chunker version re-chunks unchanged documents.
CHUNKER_VERSION = chunkyard.__version__
MAX_ERROR_CHARS = 2000
# Seconds a job waits for its database to release its lease on the way out.
RELEASE_TIMEOUT = 5.0
# Seconds past a lease's expiry before a busy operation is worth trying again.
BUSY_MARGIN = 0.2

SessionFactory = async_sessionmaker[AsyncSession]
ErrorFilter = Callable[[BaseException], bool]


class OperationBusy(Exception):
    """Another live job holds the operation's lease; try again in `retry_after` seconds."""

    def __init__(self, operation_id: uuid.UUID, owner: str | None, retry_after: float) -> None:
        super().__init__(f"operation {operation_id} is being run by {owner}")
        self.operation_id = operation_id
        self.owner = owner
        self.retry_after = retry_after


def new_lease_owner() -> str:
    """A name for one run of a job: host and process (to find it) and a unique part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class _Source:
    """What the job needs of a document, read in a short transaction."""

    id: uuid.UUID
    filename: str
    storage_path: str
    content_sha256: str
    unchanged: bool
    # Chunks stored by this very operation (an earlier, interrupted run of its job).
    chunked_here: int


async def run_operation(
    settings: Settings,
    operation_id: uuid.UUID,
    *,
    session_factory: SessionFactory | None = None,
    limiter: anyio.CapacityLimiter | None = None,
    bus: ProgressBus | None = None,
    owner: str | None = None,
    reraise: ErrorFilter | None = None,
) -> str:
    """Run one operation to its end; returns its final status (or its status when there was
    nothing to do). Raises `OperationBusy` when another live job runs it, and the errors that
    `reraise` picks. Without `session_factory` (e.g. in a Celery task), the job makes and
    disposes of its own engine. `owner` names this run's lease (default: a new name)."""
    owner = owner or new_lease_owner()
    if session_factory is not None:
        job = _Job(settings, session_factory, operation_id, owner, limiter, bus, reraise)
        return await job.run()
    engine = create_engine(settings)
    try:
        job = _Job(settings, create_session_factory(engine), operation_id, owner, limiter, bus,
                   reraise)
        return await job.run()
    finally:
        await engine.dispose()


async def fail_operation(
    settings: Settings,
    operation_id: uuid.UUID,
    message: str,
    *,
    owner: str | None = None,
    session_factory: SessionFactory | None = None,
    bus: ProgressBus | None = None,
) -> bool:
    """Fail an operation that no other live job holds (pending, or running with a free lease
    or one held by `owner`), with `message`; True if it did."""
    if session_factory is not None:
        return await _fail(session_factory, operation_id, message, owner, bus)
    engine = create_engine(settings)
    try:
        return await _fail(create_session_factory(engine), operation_id, message, owner, bus)
    finally:
        await engine.dispose()


async def db_now(session: AsyncSession) -> datetime:
    """The database's clock on PostgreSQL (one clock for every worker host), else ours."""
    if session.get_bind().dialect.name == "postgresql":
        value = await session.scalar(select(func.clock_timestamp()))
        if isinstance(value, datetime):
            return value.astimezone(UTC)
    return utcnow()


def lease_is_free(now: datetime, owner: str | None = None) -> ColumnElement[bool]:
    """The operation's lease is released, expired, or `owner`'s."""
    free = or_(Operation.lease_expires_at.is_(None), Operation.lease_expires_at <= now)
    return or_(free, Operation.lease_owner == owner) if owner is not None else free


# -- transient errors ---------------------------------------------------------------------

# PostgreSQL errors a retry may well not meet again: the server shutting down, crashed or
# starting up, too many connections, and the two it asks clients to retry (serialization
# failure, deadlock). Class 08 (connection exceptions) is matched by its prefix.
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
# Socket errors of a peer that is down, restarting or unreachable.
_NETWORK_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE,
    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN,
})


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) says the database or Redis could not be reached, or a
    connection to them broke, rather than that the job or its input is wrong.

    Transient: SQLAlchemy errors that invalidated their connection, the connection pool's
    timeout, PostgreSQL's connection SQLSTATEs (above), SQLite's "database is locked",
    Redis connection and timeout errors, and the OS's connection errors (refused, reset,
    timed out, unreachable; `ConnectionError`, `TimeoutError`, a temporary DNS failure).
    Everything else (constraint violations, bad SQL, bugs, bad input) is not.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen or len(seen) > 16:
            continue
        seen.add(id(error))
        if _transient_itself(error):
            return True
        pending.append(error.__cause__)
        if isinstance(error, DBAPIError):
            orig = error.orig
            pending.append(orig if isinstance(orig, BaseException) else None)
    return False


def _transient_itself(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, PoolTimeout | ConnectionError | TimeoutError):
        return True
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in
                                      _TRANSIENT_SQLSTATES):
        return True
    if isinstance(error, socket.gaierror):
        return error.errno == socket.EAI_AGAIN
    if isinstance(error, OSError):
        return error.errno in _NETWORK_ERRNOS
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error) or "busy" in str(error)
    return False


# -- the job ------------------------------------------------------------------------------


class _Job:
    def __init__(
        self,
        settings: Settings,
        factory: SessionFactory,
        operation_id: uuid.UUID,
        owner: str,
        limiter: anyio.CapacityLimiter | None,
        bus: ProgressBus | None = None,
        reraise: ErrorFilter | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.operation_id = operation_id
        self.owner = owner
        self.limiter = limiter
        self.bus = bus
        self.reraise = reraise
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.lease_lost = False

    async def run(self) -> str:
        claimed = await self._claim()
        if claimed is None:
            return await self._status()
        config, document_ids = claimed
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"lease-{self.operation_id}")
        try:
            try:
                await self._announce()
                for document_id in document_ids:
                    if not await self._still_ours():
                        break
                    await self._process(document_id, config)
            except Exception as exc:
                if self.reraise is not None and self.reraise(exc):
                    raise
                logger.exception("operation %s failed", self.operation_id)
                message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
                await self._finish(OperationStatus.FAILED, message)
            else:
                await self._finish(OperationStatus.COMPLETED, None)
        except BaseException:
            # Retried, timed out or stopped: let the next delivery take over without waiting
            # for the lease to expire (if the database is reachable, else it expires).
            await _stop(heartbeat)
            await self._release()
            raise
        await _stop(heartbeat)
        await self._announce()
        return await self._status()

    # -- the lease ------------------------------------------------------------------------

    async def _claim(self) -> tuple[dict[str, Any], list[uuid.UUID]] | None:
        """Take the lease; the configuration and documents to walk (None: nothing to do)."""
        async with self.factory() as session:
            operation = await self._take_lease(session)
            if operation is not None:
                ids = await _document_ids(session, operation)
                await session.execute(
                    update(Operation)
                    .where(Operation.id == self.operation_id)
                    .values(documents_total=len(ids))
                    .execution_options(synchronize_session=False)
                )
                config, attempt = dict(operation.config), operation.attempts
                await session.commit()
        if operation is None:
            await self._not_claimed()
            return None
        if attempt > 1:
            logger.info("operation %s: attempt %d, %s takes it over", self.operation_id,
                        attempt, self.owner)
        return config, ids

    async def _take_lease(self, session: AsyncSession) -> Operation | None:
        """The one conditional UPDATE that claims the operation; the claimed row, or None."""
        await dialect_for(session).begin_write(session)
        now = await db_now(session)
        result = await session.execute(
            update(Operation)
            .where(
                Operation.id == self.operation_id,
                or_(
                    Operation.status == OperationStatus.PENDING,
                    and_(
                        Operation.status == OperationStatus.RUNNING,
                        lease_is_free(now, self.owner),
                        Operation.attempts < self.settings.job_max_attempts,
                    ),
                ),
            )
            .values(
                status=OperationStatus.RUNNING,
                lease_owner=self.owner,
                lease_expires_at=now + self.lease,
                attempts=Operation.attempts + 1,
                started_at=func.coalesce(Operation.started_at, literal(now, UTCDateTime())),
                documents_done=0,
                documents_failed=0,
                chunks_created=0,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return None
        claimed: Operation | None = await session.scalar(
            select(Operation)
            .where(Operation.id == self.operation_id)
            .execution_options(populate_existing=True)
        )
        return claimed

    async def _not_claimed(self) -> None:
        """Why the claim failed: finished (nothing to do), busy, or out of attempts."""
        async with self.factory() as session:
            now = await db_now(session)
            operation = await session.scalar(
                select(Operation).where(Operation.id == self.operation_id)
            )
        if operation is None or operation.status != OperationStatus.RUNNING:
            return
        expires = operation.lease_expires_at
        if expires is not None and expires > now and operation.lease_owner != self.owner:
            raise OperationBusy(
                self.operation_id, operation.lease_owner,
                (expires - now).total_seconds() + BUSY_MARGIN,
            )
        # Free, but out of attempts: every job that ran it died (e.g. killed at the hard time
        # limit, or out of memory); delivering it once more would end the same way.
        message = (
            f"stopped after {operation.attempts} attempts: the worker running it was lost "
            "each time (killed at the time limit, out of memory, or stopped)"
        )
        await _fail(self.factory, self.operation_id, message, None, self.bus)

    async def _heartbeat(self) -> None:
        """Renew the lease until cancelled; note when it is lost (cancelled, taken over)."""
        interval = self.settings.job_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                held = await self._renew()
            except Exception:  # the job's own next step meets the same trouble and says so
                logger.warning("operation %s: could not renew the lease", self.operation_id,
                               exc_info=True)
                continue
            if not held:
                self.lease_lost = True
                return

    async def _renew(self) -> bool:
        async with self.factory() as session:
            await dialect_for(session).begin_write(session)
            now = await db_now(session)
            result = await session.execute(
                update(Operation)
                .where(*self._ours())
                .values(lease_expires_at=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            held = getattr(result, "rowcount", 0) == 1
            await session.commit()
        return held

    async def _release(self) -> None:
        """Give the lease back at once (best effort: otherwise it expires), and the attempt
        with it: only jobs that vanish count towards `job_max_attempts`."""
        async def release() -> None:
            async with self.factory() as session:
                await dialect_for(session).begin_write(session)
                await session.execute(
                    update(Operation)
                    .where(*self._ours())
                    .values(lease_expires_at=None, attempts=Operation.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
                await session.commit()

        try:
            await asyncio.wait_for(release(), RELEASE_TIMEOUT)
        except Exception:
            logger.warning("operation %s: could not release the lease (it expires in %s s)",
                           self.operation_id, self.settings.job_lease_seconds)

    def _ours(self) -> tuple[ColumnElement[bool], ...]:
        """The operation is running under our lease."""
        return (
            Operation.id == self.operation_id,
            Operation.status == OperationStatus.RUNNING,
            Operation.lease_owner == self.owner,
        )

    async def _still_ours(self) -> bool:
        if self.lease_lost:
            return False
        async with self.factory() as session:
            found = await session.scalar(select(Operation.id).where(*self._ours()))
        return found is not None

    # -- steps ----------------------------------------------------------------------------

    async def _announce(self) -> None:
        """Publish the operation's committed state (a no-op without a bus)."""
        await _announce(self.factory, self.operation_id, self.bus)

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
            await self._count(done=1, chunks=source.chunked_here)
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
        if not await self._still_ours():
            return  # cancelled (or taken over) while this document was being chunked
        async with self.factory() as session:
            try:
                document = await replace_document_chunks(
                    session, source.id, chunks, config_hash, config=config,
                    chunker_version=CHUNKER_VERSION, content_sha256=source.content_sha256,
                )
            except DocumentNotFound:
                await session.rollback()
                await self._count(failed=1)
                return
            document.chunked_by_operation_id = self.operation_id
            await session.flush()
            if not await self._count_in(session, done=1, chunks=len(chunks)):
                await session.rollback()  # cancelled or taken over meanwhile: store nothing
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
        chunked_here = (
            document.chunk_count if document.chunked_by_operation_id == self.operation_id else 0
        )
        storage_path = document.storage_path or blobs.relative_blob_path(document.content_sha256)
        return _Source(
            document.id, document.filename, storage_path, document.content_sha256, unchanged,
            chunked_here,
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

    async def _count(self, *, done: int = 0, failed: int = 0, chunks: int = 0) -> None:
        async with self.factory() as session:
            await dialect_for(session).begin_write(session)
            if not await self._count_in(session, done=done, failed=failed, chunks=chunks):
                return  # cancelled: nothing to commit (the session rolls back on close)
            await session.commit()
        await self._announce()

    async def _count_in(
        self, session: AsyncSession, *, done: int = 0, failed: int = 0, chunks: int = 0
    ) -> bool:
        """Add to the counters while the operation is running under our lease; False once it
        is cancelled or taken over, so the caller rolls back and stores nothing more."""
        result = await session.execute(
            update(Operation)
            .where(*self._ours())
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
                .where(*self._ours())
                .values(status=status, error=error, finished_at=utcnow(),
                        lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            await session.commit()


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _document_ids(session: AsyncSession, operation: Operation) -> list[uuid.UUID]:
    """The operation's documents: the ones asked for, or its collection's (in id order)."""
    if operation.document_ids is not None:
        return [uuid.UUID(d) for d in operation.document_ids]
    found = await session.scalars(
        select(Document.id)
        .where(Document.collection_id == operation.collection_id)
        .order_by(Document.id)
    )
    return list(found.all())


async def _announce(
    factory: SessionFactory, operation_id: uuid.UUID, bus: ProgressBus | None
) -> None:
    if bus is None:
        return
    async with factory() as session:
        operation = await session.scalar(select(Operation).where(Operation.id == operation_id))
        event = event_for(operation) if operation is not None else None
    if event is not None:
        await bus.publish(operation_id, event)


async def _fail(
    factory: SessionFactory,
    operation_id: uuid.UUID,
    message: str,
    owner: str | None,
    bus: ProgressBus | None,
) -> bool:
    async with factory() as session:
        await dialect_for(session).begin_write(session)
        now = await db_now(session)
        result = await session.execute(
            update(Operation)
            .where(
                Operation.id == operation_id,
                or_(
                    Operation.status == OperationStatus.PENDING,
                    and_(Operation.status == OperationStatus.RUNNING, lease_is_free(now, owner)),
                ),
            )
            .values(status=OperationStatus.FAILED, error=message[:MAX_ERROR_CHARS],
                    finished_at=utcnow(), lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
        failed = getattr(result, "rowcount", 0) == 1
        await session.commit()
    if failed:
        await _announce(factory, operation_id, bus)
    return failed


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"the stored file cannot be read: {exc.strerror or type(exc).__name__}"
    return (str(exc) or type(exc).__name__)[:MAX_ERROR_CHARS]
