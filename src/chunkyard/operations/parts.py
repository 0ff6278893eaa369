"""The operation and part state machine, in the database: planning an operation's parts,
claiming one, counting its documents, finishing it (the last part completes the operation)
and failing. The worker package runs jobs through it (`worker/jobs.py`); it runs nothing.

A transaction that locks a part and its operation always locks the part first, so two jobs
never deadlock: a document's transaction updates its part's counters, then the operation's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import chunkyard
from chunkyard.documents.stored import relative_file_path
from chunkyard.operations.events import EVENT_COLUMNS, ProgressBus, event_for
from chunkyard.operations.lease import (
    BUSY_MARGIN,
    Lease,
    PartBusy,
    SessionFactory,
    db_now,
    held_by_another,
    lease_is_free,
)
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.keys import uuid7
from chunkyard.storage.models import (
    Base,
    Document,
    DocumentStatus,
    Operation,
    OperationKind,
    OperationPart,
    OperationStatus,
    PartStatus,
    UTCDateTime,
    utcnow,
)
from chunkyard.storage.repositories import config_hash_for, ensure_chunk_config

logger = logging.getLogger("chunkyard.worker")

# Stored with each document's chunks: a new chunker version re-chunks unchanged documents.
CHUNKER_VERSION = chunkyard.__version__
MAX_ERROR_CHARS = 2000

ACTIVE = (OperationStatus.PENDING, OperationStatus.RUNNING)
UNFINISHED = (PartStatus.PENDING, PartStatus.RUNNING)

EventRow = Row[Any]


async def announce(bus: ProgressBus | None, row: EventRow | None) -> None:
    """Publish an operation's state (a result row of `EVENT_COLUMNS`) once it is committed."""
    if bus is not None and row is not None:
        await bus.publish(row.id, event_for(row))


# -- planning -------------------------------------------------------------------------------


def split(
    documents: Sequence[tuple[uuid.UUID, int]], max_documents: int, max_bytes: int
) -> list[list[uuid.UUID]]:
    """Consecutive runs of (id, size) documents, each at most `max_documents` long and, unless
    one document alone is bigger, at most `max_bytes` large."""
    parts: list[list[uuid.UUID]] = []
    current: list[uuid.UUID] = []
    size = 0
    for document_id, nbytes in documents:
        if current and (len(current) >= max_documents or size + nbytes > max_bytes):
            parts.append(current)
            current, size = [], 0
        current.append(document_id)
        size += nbytes
    if current:
        parts.append(current)
    return parts


async def plan(
    factory: SessionFactory, settings: Settings, operation_id: uuid.UUID,
    bus: ProgressBus | None,
) -> list[uuid.UUID]:
    """Start the operation if it is pending: in one transaction, split its documents into
    parts and set it running (an empty one completes at once). Returns its parts that are
    not finished yet (those to run or to deliver again), in order; none once it finished."""
    async with factory() as session:
        await dialect_for(session).begin_write(session)
        operation = (
            await session.execute(
                select(Operation.status, Operation.collection_id, Operation.document_ids,
                       Operation.kind, Operation.config)
                .where(Operation.id == operation_id)
                .with_for_update()
            )
        ).first()
        if operation is None or operation.status not in ACTIVE:
            return []
        parts = (
            await session.execute(
                select(OperationPart.id, OperationPart.status)
                .where(OperationPart.operation_id == operation_id)
                .order_by(OperationPart.number)
            )
        ).all()
        if parts:
            left = [p.id for p in parts if p.status in UNFINISHED]
            if left:
                return left
            # Every part finished but the operation did not: cannot happen (the last part
            # completes it in its own transaction), but never leave it running for ever.
            row = await complete_if_done(session, operation_id)
            await session.commit()
            await announce(bus, row)
            return []
        # Pending, or running without parts (left so by revision 0003's job): plan it.
        documents = await _documents(session, operation.collection_id, operation.document_ids)
        total = len(documents)
        if operation.kind == OperationKind.EVALUATION:
            # One part, even with no documents left: its job scores every configuration over
            # the chunks of all the documents together, and counts each document once per
            # configuration.
            groups = [[d for d, _ in documents]]
            total *= len(operation.config.get("configs") or [])
        else:
            groups = split(documents, settings.job_part_documents, settings.job_part_bytes)
        ids = [uuid7() for _ in groups]
        if groups:
            await session.execute(
                insert(OperationPart),
                [
                    {"id": part_id, "operation_id": operation_id, "number": number,
                     "document_ids": [str(d) for d in group]}
                    for number, (part_id, group) in enumerate(zip(ids, groups, strict=True))
                ],
            )
        now = await db_now(session)
        values: dict[str, Any] = {
            "status": OperationStatus.RUNNING if groups else OperationStatus.COMPLETED,
            "started_at": func.coalesce(Operation.started_at, literal(now, UTCDateTime())),
            "documents_total": total,
            "documents_done": 0,
            "documents_failed": 0,
            "chunks_created": 0,
        }
        if not groups:
            values["finished_at"] = now
        row = (
            await session.execute(
                update(Operation)
                .where(Operation.id == operation_id)
                .values(values)
                .returning(*EVENT_COLUMNS)
                .execution_options(synchronize_session=False)
            )
        ).first()
        await session.commit()
    await announce(bus, row)
    if len(groups) > 1:
        logger.info("operation %s: %d documents in %d parts", operation_id, len(documents),
                    len(groups))
    return ids


async def _documents(
    session: AsyncSession, collection_id: uuid.UUID, document_ids: list[str] | None
) -> list[tuple[uuid.UUID, int]]:
    """The operation's documents and their sizes: the ones asked for (in that order; one
    deleted since counts 0 bytes, and its part counts it failed), or its collection's (in id
    order)."""
    if document_ids is None:
        rows = await session.execute(
            select(Document.id, Document.size_bytes)
            .where(Document.collection_id == collection_id)
            .order_by(Document.id)
        )
        return [(r.id, int(r.size_bytes)) for r in rows.all()]
    wanted = [uuid.UUID(d) for d in document_ids]
    rows = await session.execute(
        select(Document.id, Document.size_bytes).where(Document.id.in_(wanted))
    )
    sizes = {r.id: int(r.size_bytes) for r in rows.all()}
    return [(d, sizes.get(d, 0)) for d in wanted]


# -- claiming -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """What the job needs of one document, read when it claims the part."""

    id: uuid.UUID
    filename: str
    storage_path: str
    content_sha256: str
    # Its stored chunks were made from this content, configuration and chunker version.
    unchanged: bool
    # Chunks stored by this very operation (a job that ran this part before and died).
    chunked_here: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A part that this job now runs, and what it needs to run it."""

    operation_id: uuid.UUID
    number: int
    attempt: int
    # What the operation does (`OperationKind`) and its `config`: a chunking configuration,
    # or an evaluation's inputs.
    kind: str
    config: dict[str, Any]
    config_hash: str
    config_id: int
    # The part's documents in order: None for one deleted since the operation started.
    sources: list[tuple[uuid.UUID, Source | None]]


async def claim(
    factory: SessionFactory, settings: Settings, lease: Lease, bus: ProgressBus | None
) -> Claim | None:
    """Take the part's lease if it is pending, or running with a released or expired lease
    (its job gave it back or died), in one transaction that also takes back from the
    operation's counters what the part had counted and resets the part's, and reads its
    documents. None when there is nothing to do: the part or its operation finished (or
    cancelled), or the part ran out of attempts (which fails the operation). Raises
    `PartBusy` when another live job holds the part."""
    part_id, owner = lease.part_id, lease.owner
    async with factory() as session:
        await dialect_for(session).begin_write(session)
        now = await db_now(session)
        part = (
            await session.execute(
                select(OperationPart).where(OperationPart.id == part_id).with_for_update()
            )
        ).scalar_one_or_none()
        if part is None or part.status not in UNFINISHED:
            return None
        running = part.status == PartStatus.RUNNING
        if running and held_by_another(now, owner, part.lease_owner, part.lease_expires_at):
            assert part.lease_expires_at is not None
            wait = (part.lease_expires_at - now).total_seconds() + BUSY_MARGIN
            raise PartBusy(part_id, part.lease_owner, wait)
        if running and part.attempts >= settings.job_max_attempts:
            # Free, but every job that ran it died (e.g. killed at the hard time limit, or out
            # of memory): delivering it once more would end the same way.
            message = (
                f"stopped after {part.attempts} attempts: the worker running part "
                f"{part.number} was lost each time (killed at the time limit, out of memory, "
                "or stopped)"
            )
            row = await fail_in(session, part.operation_id, part_id, message)
            await session.commit()
            await announce(bus, row)
            return None
        operation = (
            await session.execute(
                update(Operation)
                .where(Operation.id == part.operation_id,
                       Operation.status == OperationStatus.RUNNING)
                .values(
                    documents_done=Operation.documents_done - part.documents_done,
                    documents_failed=Operation.documents_failed - part.documents_failed,
                    chunks_created=Operation.chunks_created - part.chunks_created,
                )
                .returning(Operation.config, Operation.kind)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if operation is None:
            return None  # cancelled or failed meanwhile
        part.status = PartStatus.RUNNING
        part.lease_owner = owner
        part.lease_expires_at = now + timedelta(seconds=lease.seconds)
        part.attempts += 1
        part.started_at = part.started_at or now
        part.documents_done = part.documents_failed = part.chunks_created = 0
        await session.flush()
        config = dict(operation.config)
        kind = str(operation.kind)
        if kind == OperationKind.EVALUATION:
            config_hash, config_id = "", 0  # it stores no chunks
        else:
            config_hash = config_hash_for(config)
            config_id = await ensure_chunk_config(session, config_hash, config)
        ids = [uuid.UUID(d) for d in part.document_ids]
        sources = await _sources(session, ids, part.operation_id, config_hash)
        found = Claim(part.operation_id, part.number, part.attempts, kind, config, config_hash,
                      config_id, [(d, sources.get(d)) for d in ids])
        await session.commit()
    return found


async def _sources(
    session: AsyncSession, ids: list[uuid.UUID], operation_id: uuid.UUID, config_hash: str
) -> dict[uuid.UUID, Source]:
    rows = await session.execute(
        select(
            Document.id, Document.filename, Document.storage_path, Document.content_sha256,
            Document.status, Document.chunked_sha256, Document.config_hash,
            Document.chunker_version, Document.chunk_count, Document.chunked_by_operation_id,
        ).where(Document.id.in_(ids))
    )
    sources = {}
    for d in rows.all():
        unchanged = (
            d.status == DocumentStatus.CHUNKED
            and d.chunked_sha256 == d.content_sha256
            and d.config_hash == config_hash
            and d.chunker_version == CHUNKER_VERSION
        )
        sources[d.id] = Source(
            d.id, d.filename, relative_file_path(d.storage_path, d.content_sha256),
            d.content_sha256, unchanged,
            d.chunk_count if d.chunked_by_operation_id == operation_id else 0,
        )
    return sources


# -- counting and finishing -----------------------------------------------------------------


async def count(
    session: AsyncSession, lease: Lease, operation_id: uuid.UUID, *,
    done: int = 0, failed: int = 0, chunks: int = 0,
) -> EventRow | None:
    """Add a document to the part's counters and the operation's, in the caller's
    transaction, while the part is ours and the operation running; the operation's new
    state, or None once it is cancelled, failed or taken over (roll back: store nothing)."""
    await dialect_for(session).begin_write(session)
    connection = await session.connection()
    counts = {"p_done": done, "p_failed": failed, "p_chunks": chunks}
    result = await connection.execute(
        _COUNT_PART, {"p_part": lease.part_id, "p_owner": lease.owner, **counts}
    )
    if result.rowcount != 1:
        return None
    return (await connection.execute(_COUNT_OPERATION, {"p_operation": operation_id, **counts})
            ).first()


# The statements of `count`, built once: a job runs them for every document.
_parts = Base.metadata.tables["operation_parts"]
_operations = Base.metadata.tables["operations"]
_COUNT_PART = (
    _parts.update()
    .where(_parts.c.id == bindparam("p_part"), _parts.c.status == PartStatus.RUNNING,
           _parts.c.lease_owner == bindparam("p_owner"))
    .values(
        documents_done=_parts.c.documents_done + bindparam("p_done"),
        documents_failed=_parts.c.documents_failed + bindparam("p_failed"),
        chunks_created=_parts.c.chunks_created + bindparam("p_chunks"),
    )
)
_COUNT_OPERATION = (
    _operations.update()
    .where(_operations.c.id == bindparam("p_operation"),
           _operations.c.status == OperationStatus.RUNNING)
    .values(
        documents_done=_operations.c.documents_done + bindparam("p_done"),
        documents_failed=_operations.c.documents_failed + bindparam("p_failed"),
        chunks_created=_operations.c.chunks_created + bindparam("p_chunks"),
    )
    .returning(*EVENT_COLUMNS)
)


async def finish(
    session: AsyncSession, lease: Lease, operation_id: uuid.UUID
) -> tuple[bool, EventRow | None]:
    """Mark our part completed and, if it was the last one, the operation too, in the
    caller's transaction. (Whether the part was still ours, the operation's final state.)"""
    await dialect_for(session).begin_write(session)
    now = utcnow()
    result = await session.execute(
        update(OperationPart)
        .where(*lease.ours())
        .values(status=PartStatus.COMPLETED, finished_at=now, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False, None
    return True, await complete_if_done(session, operation_id)


async def complete_if_done(session: AsyncSession, operation_id: uuid.UUID) -> EventRow | None:
    """Complete the running operation if all its parts are; its final state, else None.

    The operation's row lock (PostgreSQL; SQLite's write lock serialises writers anyway) is
    taken before the parts are counted, so of two parts finishing at once the second one
    counts after the first has committed, and exactly one of them completes the operation.
    """
    locked = await session.scalar(
        select(Operation.id)
        .where(Operation.id == operation_id, Operation.status == OperationStatus.RUNNING)
        .with_for_update()
    )
    if locked is None:
        return None
    unfinished = await session.scalar(
        select(func.count())
        .select_from(OperationPart)
        .where(OperationPart.operation_id == operation_id,
               OperationPart.status != PartStatus.COMPLETED)
    )
    if unfinished:
        return None
    counts = (await session.execute(
        select(Operation.documents_failed, Operation.documents_total, Operation.kind)
        .where(Operation.id == operation_id)
    )).one()
    return (
        await session.execute(
            update(Operation)
            .where(Operation.id == operation_id)
            .values(status=OperationStatus.COMPLETED, finished_at=utcnow(),
                    error=failures_summary(counts.documents_failed, counts.documents_total,
                                           counts.kind))
            .returning(*EVENT_COLUMNS)
            .execution_options(synchronize_session=False)
        )
    ).first()


def failures_summary(failed: int, total: int, kind: str = OperationKind.CHUNKING
                     ) -> str | None:
    """What a completed operation whose documents partly failed says in `error` (the API,
    the final event and the UI show it), so it never looks like a clean success."""
    if failed <= 0:
        return None
    if kind == OperationKind.EVALUATION:
        return (f"{failed} of {total} document chunkings failed; each configuration's "
                "error in the results says why")
    noun = "document" if total == 1 else "documents"
    return f"{failed} of {total} {noun} failed; each failed document's error says why"


# -- failing --------------------------------------------------------------------------------


async def fail_in(
    session: AsyncSession, operation_id: uuid.UUID, part_id: uuid.UUID | None, message: str
) -> EventRow | None:
    """Fail the operation (if pending or running) with `message`, and the part that caused
    it, in the caller's transaction; the operation's final state, or None."""
    await dialect_for(session).begin_write(session)
    if part_id is not None:
        await session.execute(
            update(OperationPart)
            .where(OperationPart.id == part_id, OperationPart.status.in_(UNFINISHED))
            .values(status=PartStatus.FAILED, finished_at=utcnow(), lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    return (
        await session.execute(
            update(Operation)
            .where(Operation.id == operation_id, Operation.status.in_(ACTIVE))
            .values(status=OperationStatus.FAILED, error=message[:MAX_ERROR_CHARS],
                    finished_at=utcnow())
            .returning(*EVENT_COLUMNS)
            .execution_options(synchronize_session=False)
        )
    ).first()


async def fail_part(
    factory: SessionFactory, part_id: uuid.UUID, message: str, owner: str | None,
    bus: ProgressBus | None,
) -> bool:
    """Fail a part's operation with `message`, unless another live job holds the part (the
    part is pending, or running with a free lease or one held by `owner`) or the part has
    finished; True if it did."""
    async with factory() as session:
        await dialect_for(session).begin_write(session)
        now = await db_now(session)
        part = (
            await session.execute(
                select(OperationPart.operation_id)
                .where(OperationPart.id == part_id,
                       OperationPart.status.in_(UNFINISHED),
                       lease_is_free(now, owner))
                .with_for_update()
            )
        ).first()
        if part is None:
            return False
        row = await fail_in(session, part.operation_id, part_id, message)
        await session.commit()
    await announce(bus, row)
    return row is not None


async def fail_operation(
    factory: SessionFactory, operation_id: uuid.UUID, message: str, bus: ProgressBus | None
) -> bool:
    """Fail a pending or running operation with `message`; True if it did."""
    async with factory() as session:
        row = await fail_in(session, operation_id, None, message)
        await session.commit()
    await announce(bus, row)
    return row is not None
