"""The record of maintenance runs (`maintenance_runs`): written by each run, read by
`maintenance status`, the schedulers (is a task due?) and /metrics.

A run inserts its row as `running` once it holds its task's lock and finishes it as
`succeeded` or `failed` with a one-line detail; a run by hand that finds the lock held inserts
a finished `skipped` row (a scheduled one leaves no row: the holder does its work). A
`running` row left by a process that died is closed as failed by the next run that takes the
lock (only a holder of the lock can know nothing else runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chunkyard.maintenance.schedule import SCHEDULE, TASKS
from chunkyard.storage.models import MaintenanceOutcome, MaintenanceRun, utcnow

DETAIL_CHARS = 500
INTERRUPTED = "interrupted: its process stopped before the run finished"


def one_line(detail: str) -> str:
    """A detail as one line of at most DETAIL_CHARS characters (never a traceback)."""
    line = " ".join(str(detail).split())
    return line if len(line) <= DETAIL_CHARS else line[: DETAIL_CHARS - 1] + "…"


async def start_run(engine: AsyncEngine, task: str, started_at: datetime) -> int:
    """Close the task's stale `running` rows, insert this run's; its id. Hold the lock."""
    async with engine.begin() as connection:
        await connection.execute(
            update(MaintenanceRun)
            .where(MaintenanceRun.task == task,
                   MaintenanceRun.outcome == MaintenanceOutcome.RUNNING)
            .values(outcome=MaintenanceOutcome.FAILED, finished_at=started_at,
                    detail=INTERRUPTED)
        )
        result = await connection.execute(
            MaintenanceRun.__table__.insert().values(  # type: ignore[attr-defined]
                task=task, outcome=MaintenanceOutcome.RUNNING, started_at=started_at,
                detail="",
            ).returning(MaintenanceRun.id)
        )
        return int(result.scalar_one())


async def finish_run(engine: AsyncEngine, run_id: int, outcome: MaintenanceOutcome,
                     detail: str, finished_at: datetime | None = None) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(MaintenanceRun).where(MaintenanceRun.id == run_id)
            .values(outcome=outcome, finished_at=finished_at or utcnow(),
                    detail=one_line(detail))
        )


async def record_skipped(engine: AsyncEngine, task: str, at: datetime, detail: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            MaintenanceRun.__table__.insert().values(  # type: ignore[attr-defined]
                task=task, outcome=MaintenanceOutcome.SKIPPED, started_at=at,
                finished_at=at, detail=one_line(detail),
            )
        )


@dataclass(frozen=True, slots=True)
class Run:
    task: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    detail: str

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class TaskState:
    """What the record says about one task."""

    task: str
    last: Run | None  # the newest run of any outcome
    last_ran: Run | None  # the newest that ran to an end (succeeded or failed)
    last_success: Run | None
    last_started_at: datetime | None  # the newest run that took the lock (any outcome but skipped)


@dataclass(frozen=True, slots=True)
class MaintenanceState:
    tasks: dict[str, TaskState]
    first_run_at: datetime | None  # the oldest recorded run of any task


async def _newest(connection: AsyncConnection, *outcomes: MaintenanceOutcome
                  ) -> dict[str, Run]:
    """Each task's newest run among `outcomes` (all of them when none is given)."""
    newest = select(func.max(MaintenanceRun.id)).group_by(MaintenanceRun.task)
    if outcomes:
        newest = newest.where(MaintenanceRun.outcome.in_([str(o) for o in outcomes]))
    rows = (await connection.execute(
        select(MaintenanceRun).where(MaintenanceRun.id.in_(newest.scalar_subquery()))
    )).all()
    return {row.task: Run(row.task, row.outcome, row.started_at, row.finished_at, row.detail)
            for row in rows}


async def read_state(connection: AsyncConnection) -> MaintenanceState:
    """Every task's newest runs: four small index reads of a table of a few thousand rows."""
    outcome = MaintenanceOutcome
    last = await _newest(connection)
    ran = await _newest(connection, outcome.SUCCEEDED, outcome.FAILED)
    success = await _newest(connection, outcome.SUCCEEDED)
    started = await _newest(connection, outcome.SUCCEEDED, outcome.FAILED, outcome.RUNNING)
    first = await connection.scalar(select(func.min(MaintenanceRun.started_at)))
    tasks = {
        task: TaskState(task, last.get(task), ran.get(task), success.get(task),
                        started[task].started_at if task in started else None)
        for task in TASKS
    }
    return MaintenanceState(tasks, first if isinstance(first, datetime) else None)


async def read_state_of(engine: AsyncEngine) -> MaintenanceState:
    async with engine.connect() as connection:
        return await read_state(connection)


def is_due(state: TaskState, now: datetime, since: datetime) -> bool:
    """True when no run took the lock since the task's latest scheduled time (at or before
    `now`). A task never run counts from `since` (when its scheduler started), so a new
    install waits for the first scheduled time rather than running everything at once."""
    scheduled = SCHEDULE[state.task].previous(now)
    last = state.last_started_at or since
    return last < scheduled


def next_due(state: TaskState, now: datetime, since: datetime) -> datetime:
    """When the task is next due: now if it is, else its next scheduled time."""
    if is_due(state, now, since):
        return now
    return SCHEDULE[state.task].next_after(now)
