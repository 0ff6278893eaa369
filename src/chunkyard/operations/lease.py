"""Leases on operation parts: which run of a job holds a part, until when, kept alive by a
heartbeat and given back when the job stops early (see `jobs.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.models import OperationPart, PartStatus, utcnow

logger = logging.getLogger("chunkyard.worker")

SessionFactory = async_sessionmaker[AsyncSession]

# Seconds a job waits for its database to release its lease on the way out.
RELEASE_TIMEOUT = 5.0
# Seconds past a lease's expiry before a busy part is worth trying again.
BUSY_MARGIN = 0.2
# The lease owner the sweeper writes on a part it queued again (see `sweeper.py`): until it
# expires, other sweepers leave the part alone; any job may claim it.
REQUEUED = "requeued"


class PartBusy(Exception):
    """Another live job holds the part's lease; try again in `retry_after` seconds."""

    def __init__(self, part_id: uuid.UUID, owner: str | None, retry_after: float) -> None:
        super().__init__(f"operation part {part_id} is being run by {owner}")
        self.part_id = part_id
        self.owner = owner
        self.retry_after = retry_after


def new_lease_owner() -> str:
    """A name for one run of a job: host and process (to find it) and a unique part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


async def db_now(session: AsyncSession) -> datetime:
    """The database's clock on PostgreSQL (one clock for every worker host), else ours."""
    if session.get_bind().dialect.name == "postgresql":
        value = await session.scalar(select(func.clock_timestamp()))
        if isinstance(value, datetime):
            return value.astimezone(UTC)
    return utcnow()


def lease_is_free(now: datetime, owner: str | None = None) -> ColumnElement[bool]:
    """The part's lease is released, expired, the sweeper's mark, or `owner`'s."""
    expires = OperationPart.lease_expires_at
    free = or_(expires.is_(None), expires <= now, OperationPart.lease_owner == REQUEUED)
    return or_(free, OperationPart.lease_owner == owner) if owner is not None else free


def held_by_another(
    now: datetime, owner: str | None, lease_owner: str | None, expires: datetime | None
) -> bool:
    """A lease (`lease_owner` until `expires`) is live and not `owner`'s. The sweeper's
    `REQUEUED` mark is no job: the delivery it sent takes the part at once."""
    if lease_owner == REQUEUED:
        return False
    return expires is not None and expires > now and (owner is None or lease_owner != owner)


class Lease:
    """Our lease on one part: the condition every write of the job carries, the heartbeat
    that renews it every third of its length, and its release."""

    def __init__(self, factory: SessionFactory, part_id: uuid.UUID, owner: str,
                 seconds: float) -> None:
        self.factory = factory
        self.part_id = part_id
        self.owner = owner
        self.seconds = seconds
        # Set once a renewal finds the part no longer ours (taken over after a stall).
        self.lost = False
        self._task: asyncio.Task[None] | None = None

    def ours(self) -> tuple[ColumnElement[bool], ...]:
        """The part is running under this lease."""
        return (
            OperationPart.id == self.part_id,
            OperationPart.status == PartStatus.RUNNING,
            OperationPart.lease_owner == self.owner,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._beat(), name=f"lease-{self.part_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                held = await self._renew()
            except Exception:  # the job's own next step meets the same trouble and says so
                logger.warning("part %s: could not renew the lease", self.part_id,
                               exc_info=True)
                continue
            if not held:
                self.lost = True
                return

    async def _renew(self) -> bool:
        async with self.factory() as session:
            await dialect_for(session).begin_write(session)
            now = await db_now(session)
            result = await session.execute(
                update(OperationPart)
                .where(*self.ours())
                .values(lease_expires_at=now + timedelta(seconds=self.seconds))
                .execution_options(synchronize_session=False)
            )
            held = getattr(result, "rowcount", 0) == 1
            await session.commit()
        return held

    async def release(self) -> None:
        """Give the lease back at once (best effort: otherwise it expires), and the attempt
        with it: only jobs that vanish count towards `job_max_attempts`."""
        async def release() -> None:
            async with self.factory() as session:
                await dialect_for(session).begin_write(session)
                await session.execute(
                    update(OperationPart)
                    .where(*self.ours())
                    .values(lease_expires_at=None, attempts=OperationPart.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
                await session.commit()

        try:
            await asyncio.wait_for(release(), RELEASE_TIMEOUT)
        except Exception:
            logger.warning("part %s: could not release the lease (it expires in %s s)",
                           self.part_id, self.seconds)
