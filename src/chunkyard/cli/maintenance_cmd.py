"""`chunkyard maintenance run NAME | status` and `chunkyard scheduler` (Celery beat).

`maintenance run` runs one task now (under its lock, recorded like a scheduled run) and
prints one line of what it did. Exit codes: 0 it succeeded, 1 it failed (one line saying
why; so does a database that cannot be reached), 75 (EX_TEMPFAIL: try again later) another
run of the task holds its lock. `maintenance status` prints, per task, its last run, outcome,
duration, last success and when it is next due. `scheduler` runs Celery beat, sending each
task to the workers' queue on its schedule (maintenance/schedule.py); the embedded mode needs
none (`chunkyard serve` schedules the tasks itself). See docs/maintenance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from chunkyard.cli.common import error, load_settings
from chunkyard.cli.db_cmd import _database_errors
from chunkyard.maintenance.schedule import SCHEDULE, TASKS

LOCKED_EXIT = 75
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def add_parsers(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    m = subparsers.add_parser(
        "maintenance", parents=parents, help="run a maintenance task, or show their state",
        description="Database and data directory maintenance: analyze (daily), skew "
        "(hourly), cleanup and reindex (weekly). The service runs them on schedule; these "
        "commands run one now or show when each last ran.",
    )
    m_sub = m.add_subparsers(dest="maintenance_command", metavar="{run,status}",
                             required=True)
    run = m_sub.add_parser(
        "run", parents=parents, help="run one task now",
        description="Run one maintenance task now and print what it did. Exit 0 when it "
        "succeeded, 1 when it failed, 75 when another run of it holds its lock.",
    )
    run.add_argument("task", choices=TASKS, help="the task: " + ", ".join(
        f"{name} ({schedule.describe()})" for name, schedule in SCHEDULE.items()))
    run.set_defaults(handler=_database_errors(run_maintenance))
    status = m_sub.add_parser("status", parents=parents,
                              help="each task's last run, outcome and next due time")
    status.add_argument("--json", action="store_true", help="print the state as JSON")
    status.set_defaults(handler=_database_errors(run_status))

    s = subparsers.add_parser(
        "scheduler", parents=parents, help="run Celery beat: send maintenance tasks on time",
        description="Run Celery beat, which sends each maintenance task to the workers' queue "
        "(CHUNKYARD_QUEUE) on its schedule. Run one, beside `chunkyard worker`; needs "
        "CHUNKYARD_REDIS_URL (or CHUNKYARD_BROKER_URL). Beat keeps its state in the data "
        "directory.",
    )
    s.add_argument("--loglevel", choices=LOG_LEVELS, default="info",
                   help="beat's log level (default: info)")
    s.set_defaults(handler=run_scheduler)


def _prepare() -> Any:
    settings = load_settings()
    from chunkyard.storage.prepare import prepare_database

    asyncio.run(prepare_database(settings))  # the embedded SQLite file, as `serve` does
    return settings


def _quiet_log(debug: bool) -> None:
    """The outcome is the command's one line; the task's log (a failure's traceback) shows
    with --debug only."""
    log = logging.getLogger("chunkyard.maintenance")
    if debug:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    else:  # a handler of its own: Python's last-resort stderr handler stays out of it
        log.addHandler(logging.NullHandler())


def run_maintenance(args: argparse.Namespace) -> int:
    from chunkyard.maintenance.tasks import run_task_sync

    _quiet_log(bool(getattr(args, "debug", False)))
    result = run_task_sync(args.task, _prepare())
    if result.outcome == "skipped":
        error(f"maintenance {args.task} skipped: another run of it holds its lock; try "
              "again when it has finished (`chunkyard maintenance status`)")
        return LOCKED_EXIT
    if result.outcome == "failed":
        error(f"maintenance {args.task} failed: {result.detail}")
        return 1
    print(f"{args.task} {result.outcome} in {result.duration:.1f} s: {result.detail}")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "never"


def run_status(args: argparse.Namespace) -> int:
    from chunkyard.maintenance.record import next_due, read_state_of
    from chunkyard.storage.engine import create_engine

    settings = _prepare()

    async def read() -> Any:
        engine = create_engine(settings)
        try:
            return await read_state_of(engine)
        finally:
            await engine.dispose()

    state = asyncio.run(read())
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for task in TASKS:
        item = state.tasks[task]
        due = next_due(item, now, now)
        missed = item.last_started_at is not None and due <= now
        rows.append({
            "task": task,
            "schedule": SCHEDULE[task].describe(),
            "last_run": item.last.started_at.isoformat() if item.last else None,
            "outcome": item.last.outcome if item.last else None,
            "duration_seconds": item.last.duration if item.last else None,
            "last_success": (item.last_success.finished_at.isoformat()
                             if item.last_success and item.last_success.finished_at else None),
            "next_due": now.isoformat() if missed else due.isoformat(),
            "overdue": missed,
            "detail": item.last.detail if item.last else "",
        })
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    header = (f"{'task':<9}{'last run (UTC)':<21}{'outcome':<11}{'duration':>9}  "
              f"{'last success (UTC)':<21}{'next due (UTC)':<21}detail")
    print(header)
    for row, task in zip(rows, TASKS, strict=True):
        item = state.tasks[task]
        duration = item.last.duration if item.last else None
        when = "now (missed)" if row["overdue"] else _when(datetime.fromisoformat(row["next_due"]))
        success = item.last_success.finished_at if item.last_success else None
        print(f"{task:<9}{_when(item.last.started_at if item.last else None):<21}"
              f"{row['outcome'] or '-':<11}"
              f"{'-' if duration is None else f'{duration:.1f} s':>9}  "
              f"{_when(success):<21}{when:<21}{row['detail']}")
    return 0


def run_scheduler(args: argparse.Namespace) -> int:
    settings = load_settings()
    from chunkyard.worker.mode import ExecutionMode

    if ExecutionMode(settings).embedded:
        error("no broker configured: set CHUNKYARD_REDIS_URL (or CHUNKYARD_BROKER_URL) to "
              "run the scheduler; without one, `chunkyard serve` schedules maintenance itself")
        return 1
    from chunkyard.worker.celery_app import create_celery_app

    app = create_celery_app(settings)
    data_dir = settings.data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    beat = app.Beat(loglevel=args.loglevel.upper(),
                    schedule=str(data_dir / "celerybeat-schedule"))
    beat.run()
    return 0
