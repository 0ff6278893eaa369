"""Limits counted in the database, checked inside the transaction that would pass them.

Each check first takes a per-user lock that lasts until the transaction ends, then counts,
so two requests of one user (in one API process or several) cannot both see room for one
more. PostgreSQL: a transaction-scoped advisory lock keyed by the user and the limit (other
users and other limits do not wait). SQLite: the caller's transaction already holds the
database's one write lock (`BEGIN IMMEDIATE`, see `kit.deps.transaction(write=True)`), which
serialises every writer of every process on the file.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.kit.errors import TooManyRequests
from chunkyard.limits.errors import limit_reached
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.models import Collection, Document, Operation, OperationStatus

ACTIVE = (OperationStatus.PENDING, OperationStatus.RUNNING)
# Seconds a client should wait before trying again: an operation usually ends within this.
OPERATIONS_RETRY_AFTER = 10
# A quota frees no room by itself (the user deletes documents): ask for a minute.
STORAGE_RETRY_AFTER = 60


def lock_key(purpose: str, user_id: uuid.UUID) -> int:
    """A signed 64-bit advisory lock key for (purpose, user)."""
    digest = hashlib.blake2b(f"chunkyard:{purpose}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_user(session: AsyncSession, purpose: str, user_id: uuid.UUID) -> None:
    """Hold the user's `purpose` lock until the session's transaction ends. Call it in a
    write transaction, before the reads it protects (on SQLite this takes the write lock
    if the transaction has not begun yet)."""
    dialect = dialect_for(session)
    if dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(purpose, user_id)}
        )
    else:
        await dialect.begin_write(session)


async def active_operations(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The user's pending and running operations."""
    count = await session.scalar(
        select(func.count())
        .select_from(Operation)
        .where(Operation.owner_id == user_id, Operation.status.in_(ACTIVE))
    )
    return int(count or 0)


async def stored_bytes(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The bytes of every document in the user's collections."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Document.size_bytes), 0))
        .select_from(Document)
        .join(Collection, Collection.id == Document.collection_id)
        .where(Collection.owner_id == user_id)
    )
    return int(total or 0)


async def reserve_operation(session: AsyncSession, user_id: uuid.UUID, limit: int) -> None:
    """Refuse (429) a new operation when the user already has `limit` active; otherwise
    keep the user's lock until the caller's transaction (which adds the operation) ends."""
    await lock_user(session, "operations", user_id)
    active = await active_operations(session, user_id)
    if active >= limit:
        raise limit_reached(
            f"you have {active} operations pending or running, the most a user may have "
            f"at once ({limit}); wait for one to finish or cancel one",
            code="too_many_operations", retry_after=OPERATIONS_RETRY_AFTER,
        )


def storage_refusal(used: int, adding: int, limit: int) -> TooManyRequests:
    return limit_reached(
        f"files: this upload ({adding} bytes) would bring your stored documents to "
        f"{used + adding} bytes, over your quota of {limit} bytes ({used} used); delete "
        "documents to make room",
        code="storage_quota_exceeded", retry_after=STORAGE_RETRY_AFTER,
    )


async def reserve_storage(
    session: AsyncSession, user_id: uuid.UUID, adding: int, limit: int
) -> None:
    """Refuse (429) an upload of `adding` bytes that would take the user past `limit`;
    otherwise keep the user's lock until the caller's transaction (which stores it) ends."""
    await lock_user(session, "storage", user_id)
    used = await stored_bytes(session, user_id)
    if used + adding > limit:
        raise storage_refusal(used, adding, limit)
