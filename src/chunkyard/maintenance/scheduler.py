"""The embedded mode's scheduler: `chunkyard serve` without a broker runs due maintenance tasks
itself, in a thread (each `run_task_sync` on an event loop of its own), so the app's event
loop and /healthz never wait for them.

Due means no run has taken the task's lock since its latest scheduled time (`record.is_due`);
a task never run counts from when the scheduler started, so a new install waits for the
first scheduled time, and a server that was down at 02:00 runs the missed ANALYZE when it
starts. The record, not this process, decides: several `serve` processes on one database run
each scheduled time once (the lock, then the due check again under it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from chunkyard.maintenance.record import MaintenanceState, next_due, read_state_of
from chunkyard.maintenance.schedule import TASKS
from chunkyard.maintenance.tasks import RunResult, run_task_sync
from chunkyard.settings import Settings
from chunkyard.storage.engine import create_engine

logger = logging.getLogger("chunkyard.maintenance")

# The longest sleep between two looks at the record (a clock change, a failed read).
MAX_SLEEP = 300.0


class MaintenanceScheduler:
    def __init__(self, settings: Settings, started_at: datetime | None = None) -> None:
        self.settings = settings
        self.started_at = (started_at or datetime.now(UTC)).astimezone(UTC)
        self._task: asyncio.Task[None] | None = None

    async def tick(self, at: datetime | None = None) -> tuple[list[RunResult], datetime]:
        """Run every task due now, one after another; what ran, and the next wake-up. `at`
        stands for now (tests): the runs are recorded as started then."""
        now = at or datetime.now(UTC)
        ran: list[RunResult] = []
        state = await self._read()
        for name in TASKS:
            if next_due(state.tasks[name], now, self.started_at) <= now:
                ran.append(await asyncio.to_thread(
                    run_task_sync, name, self.settings, now=at, due_since=self.started_at))
        if ran:
            state = await self._read()
        wake = min(next_due(state.tasks[name], now, self.started_at) for name in TASKS)
        return ran, max(wake, now + timedelta(seconds=1))

    async def _read(self) -> MaintenanceState:
        # An engine of its own, not the app's: the app's pool and statements stay its own.
        engine = create_engine(self.settings)
        try:
            return await read_state_of(engine)
        finally:
            await engine.dispose()

    async def run(self) -> None:
        while True:
            try:
                _, wake = await self.tick()
                sleep = (wake - datetime.now(UTC)).total_seconds()
            except Exception as exc:  # the record unreadable: look again later
                logger.warning("maintenance scheduler: %r; trying again in %.0f s", exc,
                               MAX_SLEEP)
                sleep = MAX_SLEEP
            await asyncio.sleep(min(max(sleep, 1.0), MAX_SLEEP))

    def start(self) -> MaintenanceScheduler:
        self._task = asyncio.get_running_loop().create_task(self.run(),
                                                            name="maintenance-scheduler")
        return self

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop looking; a task already running in its thread is not interrupted."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def start_scheduler(settings: Settings, *, embedded: bool) -> MaintenanceScheduler | None:
    """The scheduler of an embedded app (unless CHUNKYARD_MAINTENANCE_SCHEDULE is off);
    None in the Celery mode, where `chunkyard scheduler` (Celery beat) sends the tasks."""
    if not embedded or not settings.maintenance_schedule:
        return None
    return MaintenanceScheduler(settings).start()
