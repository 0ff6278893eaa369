"""The in-process runner (no Redis): operations run as asyncio tasks owned by the app.

`start(operation_id)` is called after the creating request has committed. Chunking itself runs
in worker threads (`run_operation`), so the event loop stays free. On app shutdown the runner
cancels its tasks, waits for them (a thread that is chunking a document finishes that
document first, and its chunks are not stored), and marks their operations FAILED with a
message saying the service stopped: nothing would ever resume a pending operation of a stopped
process, and a forever-pending operation would block new ones on its collection (409).
Operations left pending or running by a crash can be cleared with `POST .../cancel`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import anyio
from sqlalchemy import select, update

from chunkyard.operations.events import ProgressBus, event_for
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.models import Operation, OperationStatus, utcnow
from chunkyard.worker.jobs import SessionFactory, run_operation

logger = logging.getLogger("chunkyard.worker")

STOPPED_MESSAGE = "the service stopped while this operation was pending or running"


class OperationRunner:
    """Runs operations as tasks on the app's event loop; one task per operation."""

    def __init__(
        self,
        settings: Settings,
        session_factory: SessionFactory,
        limiter: anyio.CapacityLimiter | None = None,
        bus: ProgressBus | None = None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.limiter = limiter
        self.bus = bus
        self.tasks: dict[uuid.UUID, asyncio.Task[str]] = {}
        self.closed = False

    async def start(self, operation_id: uuid.UUID) -> None:
        """Schedule the operation's job (its row must be committed already). A coroutine so
        that it is called on the event loop that owns the tasks (e.g. as a background task)."""
        if self.closed or operation_id in self.tasks:
            return
        task = asyncio.create_task(
            run_operation(
                self.settings, operation_id,
                session_factory=self.session_factory, limiter=self.limiter, bus=self.bus,
            ),
            name=f"operation-{operation_id}",
        )
        self.tasks[operation_id] = task
        task.add_done_callback(lambda done: self._forget(operation_id, done))

    def _forget(self, operation_id: uuid.UUID, task: asyncio.Task[str]) -> None:
        self.tasks.pop(operation_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("operation %s: job crashed", operation_id, exc_info=task.exception())

    async def join(self) -> None:
        """Wait for every scheduled job (tests, graceful drains)."""
        while self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel the running jobs and mark their operations failed."""
        self.closed = True
        tasks = dict(self.tasks)
        for task in tasks.values():
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            async with self.session_factory() as session:
                await dialect_for(session).begin_write(session)
                await session.execute(
                    update(Operation)
                    .where(
                        Operation.id.in_(list(tasks)),
                        Operation.status.in_((OperationStatus.PENDING, OperationStatus.RUNNING)),
                    )
                    .values(status=OperationStatus.FAILED, error=STOPPED_MESSAGE,
                            finished_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
                if self.bus is not None:
                    stopped = await session.scalars(
                        select(Operation).where(Operation.id.in_(list(tasks)))
                    )
                    for operation in stopped.all():
                        await self.bus.publish(operation.id, event_for(operation))
