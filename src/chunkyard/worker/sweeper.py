"""The lease sweeper: every worker (and the embedded runner) keeps looking for parts whose job
died, and queues them again.

A part is lost when its operation is running and the part is running with a lease that
expired (its worker was killed, lost power, or was cut off for longer than the lease). Its
message may be gone, or held unacknowledged by a dead worker until the broker's visibility
timeout (70 minutes by default on Redis), so looking only when a worker starts is not enough:
at that moment the dead worker's lease may not have expired yet. Each sweep marks every lost
part `REQUEUED` for one lease length, in one conditional UPDATE per part, so of several
sweepers exactly one queues it; the mark is no lease (any job claims the part at once), and
if that message is lost too, the part is queued again once the mark expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import or_, select, update

from chunkyard.operations.lease import REQUEUED, SessionFactory, db_now
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.models import Operation, OperationPart, OperationStatus, PartStatus

logger = logging.getLogger("chunkyard.worker")

# Queue one lost part again: its operation's id and its own.
Requeue = Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]


async def mark_lost_parts(
    factory: SessionFactory, settings: Settings
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Mark the lost parts (see the module docstring) `REQUEUED`; (operation, part) ids of
    the ones this call marked, oldest operation first."""
    async with factory() as session:
        await dialect_for(session).begin_write(session)
        now = await db_now(session)
        expires = OperationPart.lease_expires_at
        lost = (
            OperationPart.status == PartStatus.RUNNING,
            or_(expires.is_(None), expires <= now),
        )
        rows = (await session.execute(
            select(OperationPart.operation_id, OperationPart.id)
            .join(Operation, Operation.id == OperationPart.operation_id)
            .where(Operation.status == OperationStatus.RUNNING, *lost)
            .order_by(OperationPart.operation_id, OperationPart.number)
        )).all()
        marked: list[tuple[uuid.UUID, uuid.UUID]] = []
        for operation_id, part_id in rows:
            result = await session.execute(
                update(OperationPart)
                .where(OperationPart.id == part_id, *lost)
                .values(lease_owner=REQUEUED,
                        lease_expires_at=now + timedelta(seconds=settings.job_lease_seconds))
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                marked.append((operation_id, part_id))
        await session.commit()
    return marked


async def sweep(factory: SessionFactory, settings: Settings, requeue: Requeue) -> int:
    """One sweep: mark the lost parts and queue each again; how many were queued."""
    marked = await mark_lost_parts(factory, settings)
    if marked:
        logger.info("queuing %d parts again whose lease expired (their job died)", len(marked))
    for operation_id, part_id in marked:
        await requeue(operation_id, part_id)
    return len(marked)


async def sweep_forever(factory: SessionFactory, settings: Settings, requeue: Requeue) -> None:
    """Sweep every `job_sweep_seconds` until cancelled; a failed sweep (the database or the
    broker away) is logged and the next one tries again."""
    while True:
        await asyncio.sleep(settings.job_sweep_seconds)
        try:
            await sweep(factory, settings, requeue)
        except Exception:
            logger.warning("could not look for parts whose job died", exc_info=True)


class SweeperProcess:
    """`sweep_forever` in a process of its own beside a Celery worker, queuing parts with its
    own Celery app. A process, not a thread: the worker's prefork pool forks children at any
    time (after one dies, too), and a fork taken while a sweeper thread held a lock left the
    children hung. It stops with the worker, and on its own once the worker is gone."""

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(target=_sweeper_main, args=(settings, os.getpid()),
                                       name="chunkyard-sweeper", daemon=True)

    def start(self) -> None:
        self.process.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout)


def _sweeper_main(settings: Settings, parent: int) -> None:
    from chunkyard.storage.engine import create_engine, create_session_factory
    from chunkyard.worker.celery_app import create_celery_app
    from chunkyard.worker.tasks import send_part

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s/Sweeper] "
                        "%(message)s")
    app = create_celery_app(settings)

    async def main() -> None:
        engine = create_engine(settings)
        factory = create_session_factory(engine)

        async def requeue(_operation: uuid.UUID, part_id: uuid.UUID) -> None:
            await asyncio.to_thread(send_part, app, settings, part_id)

        async def orphaned() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(1.0)

        sweeping = asyncio.create_task(sweep_forever(factory, settings, requeue))
        try:
            await orphaned()  # the worker died without stopping us
        finally:
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)
            await engine.dispose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
