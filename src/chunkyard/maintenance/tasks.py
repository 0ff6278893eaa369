"""The maintenance tasks, what each does on each backend, and `run_task`, which runs one under
its lock and records its outcome. The CLI, the in-process scheduler and the Celery tasks all
call `run_task` (or `run_task_sync`, which gives it an event loop of its own).

- `analyze`: PostgreSQL `ANALYZE chunks` (the parent and each of its partitions); SQLite
  `ANALYZE chunks`.
- `skew`: rows per partition counted (`storage/partitions.py: partition_report`, the one
  query the metrics and `chunkyard partitions report` use), the max/mean skew recorded, a
  warning logged over 1.5.
- `cleanup`: finished operations (and their parts) finished longer ago than
  `CHUNKYARD_MAINTENANCE_RETENTION_DAYS`; blobs no document refers to, older than
  `BLOB_GRACE_SECONDS` (an upload moves its blob in place just before its row commits);
  uploads left half-spooled by a dead process; expired entries of the Redis preview cache's
  per-user indexes; old maintenance records (each task's newest success is kept); on SQLite
  in incremental auto-vacuum mode, an incremental VACUUM.
- `reindex`: PostgreSQL `REINDEX INDEX CONCURRENTLY` of every index of every chunk partition,
  one at a time, on an autocommit connection (CONCURRENTLY cannot run in a transaction),
  after dropping what an interrupted one left (`*_ccnew` invalid indexes); SQLite
  `REINDEX chunks`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import and_, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chunkyard.chunking.cache import REDIS_PREFIX
from chunkyard.documents import blobs
from chunkyard.maintenance.lock import TaskLock
from chunkyard.maintenance.record import (
    finish_run,
    is_due,
    one_line,
    read_state_of,
    record_skipped,
    start_run,
)
from chunkyard.maintenance.schedule import TASKS
from chunkyard.settings import Settings
from chunkyard.storage.engine import SQLITE_WRITE_OPTION, create_engine
from chunkyard.storage.models import (
    Document,
    MaintenanceOutcome,
    MaintenanceRun,
    Operation,
    OperationPart,
    OperationStatus,
)
from chunkyard.storage.partitions import partition_report

logger = logging.getLogger("chunkyard.maintenance")

SKEW_WARNING = 1.5
# A blob younger than this is left alone even when no row refers to it: its upload may not
# have committed yet. An upload spooled but untouched for a day belongs to a dead process.
BLOB_GRACE_SECONDS = 15 * 60
STALE_UPLOAD_SECONDS = 24 * 3600
BATCH = 500
CLOCK_TOLERANCE = 120.0  # seconds
FINISHED = (OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.CANCELLED)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

Outcome = Literal["succeeded", "failed", "skipped", "not due"]


class UnknownTask(ValueError):
    """A name that is not one of TASKS."""


@dataclass(frozen=True, slots=True)
class RunResult:
    task: str
    outcome: Outcome
    detail: str
    started_at: datetime
    finished_at: datetime

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class Context:
    engine: AsyncEngine
    settings: Settings
    now: datetime

    @property
    def postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"


# -- analyze ----------------------------------------------------------------------------------


async def _partitions(connection: AsyncConnection) -> list[str]:
    result = await connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('chunks') ORDER BY c.relname"))
    return [str(name) for (name,) in result.all()]


async def analyze(ctx: Context) -> str:
    if ctx.postgresql:
        async with ctx.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            partitions = await _partitions(connection)
            # On a partitioned table ANALYZE samples the whole and recurses into each child.
            await connection.execute(text("ANALYZE chunks"))
        return f"analyzed chunks and its {len(partitions)} partitions"
    async with ctx.engine.connect() as connection:
        await connection.execution_options(**{SQLITE_WRITE_OPTION: True})
        async with connection.begin():
            await connection.exec_driver_sql("ANALYZE chunks")
    return "analyzed chunks (SQLite: one table, not partitioned)"


# -- skew -------------------------------------------------------------------------------------


async def skew(ctx: Context) -> str:
    async with ctx.engine.connect() as connection:
        report = await partition_report(connection, exact=True, top=1)
    where = "" if report.partitioned else " (SQLite: partition keys only, one table)"
    detail = (f"skew {report.skew:.3f}: max {report.max_rows} / mean {report.mean_rows:.1f} "
              f"chunk rows per partition, {report.total_rows} rows{where}")
    if report.skew > SKEW_WARNING:
        hot = report.hot[0].table if report.hot else "?"
        logger.warning("chunk partition skew %.3f is over %.1f (fullest: %s); see "
                       "`chunkyard partitions report`", report.skew, SKEW_WARNING, hot)
        detail += f", over {SKEW_WARNING} (fullest {hot})"
    return detail


# -- cleanup ----------------------------------------------------------------------------------


async def _delete_operations(ctx: Context, cutoff: datetime) -> tuple[int, int]:
    """Finished operations older than `cutoff`, and their parts, in short transactions."""
    old = and_(Operation.status.in_([str(s) for s in FINISHED]),
               func.coalesce(Operation.finished_at, Operation.created_at) < cutoff)
    operations = parts = 0
    while True:
        async with ctx.engine.connect() as connection:
            if not ctx.postgresql:
                await connection.execution_options(**{SQLITE_WRITE_OPTION: True})
            async with connection.begin():
                ids = list((await connection.scalars(
                    select(Operation.id).where(old).limit(BATCH))).all())
                if not ids:
                    return operations, parts
                gone = await connection.execute(
                    delete(OperationPart).where(OperationPart.operation_id.in_(ids)))
                parts += int(gone.rowcount or 0)
                gone = await connection.execute(delete(Operation).where(Operation.id.in_(ids)))
                operations += int(gone.rowcount or 0)


async def _delete_old_records(ctx: Context, cutoff: datetime) -> int:
    """Maintenance records older than `cutoff`, but never a task's newest success."""
    newest_success = (select(func.max(MaintenanceRun.id))
                      .where(MaintenanceRun.outcome == MaintenanceOutcome.SUCCEEDED)
                      .group_by(MaintenanceRun.task))
    async with ctx.engine.connect() as connection:
        if not ctx.postgresql:
            await connection.execution_options(**{SQLITE_WRITE_OPTION: True})
        async with connection.begin():
            gone = await connection.execute(delete(MaintenanceRun).where(
                MaintenanceRun.started_at < cutoff,
                MaintenanceRun.outcome != MaintenanceOutcome.RUNNING,
                MaintenanceRun.id.not_in(newest_success.scalar_subquery()),
            ))
            return int(gone.rowcount or 0)


def _old_files(directory: Path, older_than: float) -> list[tuple[Path, int]]:
    """Files under `directory` last modified before `older_than` (epoch seconds)."""
    found: list[tuple[Path, int]] = []
    if not directory.is_dir():
        return found
    for path in directory.rglob("*"):
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_file() and info.st_mtime < older_than:
            found.append((path, info.st_size))
    return found


async def _referenced(ctx: Context, digests: list[str]) -> set[str]:
    found: set[str] = set()
    async with ctx.engine.connect() as connection:
        for start in range(0, len(digests), BATCH):
            batch = digests[start:start + BATCH]
            found.update(str(d) for d in (await connection.scalars(
                select(Document.content_sha256).distinct()
                .where(Document.content_sha256.in_(batch)))).all())
    return found


async def _delete_blobs(ctx: Context) -> tuple[int, int, int]:
    """Unreferenced blobs past the grace time, and stale spooled uploads: (blobs, bytes,
    uploads)."""
    data_dir = ctx.settings.data_dir
    root = blobs.blobs_dir(data_dir)
    now = time.time()
    incoming = root / ".incoming"
    stale = await asyncio.to_thread(_old_files, incoming, now - STALE_UPLOAD_SECONDS)
    await asyncio.to_thread(blobs.discard, [path for path, _ in stale])
    old = await asyncio.to_thread(_old_files, root, now - BLOB_GRACE_SECONDS)
    candidates = {path.name: (path, size) for path, size in old
                  if incoming not in path.parents and _SHA256.match(path.name)
                  and path.parent.name == path.name[:2]}
    orphans = set(candidates) - await _referenced(ctx, sorted(candidates))
    removed = freed = 0
    for digest in sorted(orphans):
        # Asked again just before: an upload of the same content may have committed since.
        if await _referenced(ctx, [digest]):
            continue
        await asyncio.to_thread(blobs.remove_blob, data_dir, digest)
        removed += 1
        freed += candidates[digest][1]
    return removed, freed, len(stale)


async def _prune_cache(ctx: Context) -> str:
    """Expired entries left in the Redis preview cache's per-user indexes (the entries
    themselves expire by TTL); the in-process cache has no expiry to act on."""
    if not ctx.settings.redis_url:
        return "preview cache in process: nothing expires (it is bounded per user)"
    from redis.asyncio import Redis

    client: Any = Redis.from_url(ctx.settings.redis_url, socket_connect_timeout=5,
                                 socket_timeout=10)
    pruned = 0
    try:
        seconds, micros = await client.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        async for index in client.scan_iter(match=f"{REDIS_PREFIX}-index:*", count=500):
            name = index.decode() if isinstance(index, bytes) else str(index)
            sizes = name.replace(f"{REDIS_PREFIX}-index:", f"{REDIS_PREFIX}-sizes:", 1)
            expired = await client.zrangebyscore(name, "-inf", now_ms)
            if expired:
                await client.hdel(sizes, *expired)
                pruned += int(await client.zremrangebyscore(name, "-inf", now_ms))
    finally:
        await client.aclose()
    return f"{pruned} expired preview cache entries"


async def _freelist(ctx: Context) -> tuple[int, int]:
    async with ctx.engine.connect() as connection:
        mode = int(await connection.scalar(text("PRAGMA auto_vacuum")) or 0)
        return mode, int(await connection.scalar(text("PRAGMA freelist_count")) or 0)


async def _sqlite_vacuum(ctx: Context) -> str:
    mode, free = await _freelist(ctx)
    if mode != 2:
        name = {0: "NONE", 1: "FULL"}.get(mode, str(mode))
        return (f"no incremental VACUUM (auto_vacuum is {name}, not INCREMENTAL): "
                f"{free} free pages kept for reuse")
    async with ctx.engine.connect() as connection:
        # Each step of the pragma frees one page, and the driver's execute steps once:
        # executescript steps it to its end (on a connection with no transaction begun).
        raw = await connection.get_raw_connection()
        await raw.driver_connection.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]
    _, after = await _freelist(ctx)
    return f"incremental VACUUM freed {free - after} pages"


async def cleanup(ctx: Context) -> str:
    days = ctx.settings.maintenance_retention_days
    cutoff = ctx.now - timedelta(days=days)
    operations, parts = await _delete_operations(ctx, cutoff)
    removed, freed, stale = await _delete_blobs(ctx)
    cache = await _prune_cache(ctx)
    records = await _delete_old_records(ctx, cutoff)
    detail = (f"deleted {operations} operations ({parts} parts) finished over {days} days ago, "
              f"{removed} unreferenced blobs ({freed} bytes), {stale} stale uploads, "
              f"{records} old maintenance records; {cache}")
    if not ctx.postgresql:
        detail += "; " + await _sqlite_vacuum(ctx)
    return detail


# -- reindex ----------------------------------------------------------------------------------


async def reindex(ctx: Context) -> str:
    if not ctx.postgresql:
        async with ctx.engine.connect() as connection:
            await connection.execution_options(**{SQLITE_WRITE_OPTION: True})
            async with connection.begin():
                names = [str(n) for (n,) in (await connection.execute(text(
                    "SELECT name FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'chunks'"))).all()]
                await connection.exec_driver_sql("REINDEX chunks")
        return f"rebuilt the {len(names)} indexes of chunks (SQLite: one table)"
    async with ctx.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        partitions = await _partitions(connection)
        rows = (await connection.execute(text(
            "SELECT x.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class x ON x.oid = i.indexrelid "
            "JOIN pg_inherits h ON h.inhrelid = i.indrelid "
            "WHERE h.inhparent = to_regclass('chunks') ORDER BY x.relname"))).all()
        leftovers = [str(n) for n, valid in rows if not valid and "_ccnew" in str(n)]
        for name in leftovers:  # what a REINDEX CONCURRENTLY that was stopped left behind
            await connection.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        indexes = [str(n) for n, _ in rows if str(n) not in leftovers]
        for name in indexes:
            await connection.execute(text(f'REINDEX INDEX CONCURRENTLY "{name}"'))
    dropped = f", dropped {len(leftovers)} left by an interrupted run" if leftovers else ""
    return (f"rebuilt {len(indexes)} indexes of {len(partitions)} chunk partitions "
            f"concurrently{dropped}")


TASK_FUNCTIONS: dict[str, Callable[[Context], Awaitable[str]]] = {
    "analyze": analyze, "skew": skew, "cleanup": cleanup, "reindex": reindex,
}
assert tuple(TASK_FUNCTIONS) == TASKS


# -- running one, under its lock, recorded ----------------------------------------------------


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    message = str(orig or exc) or type(exc).__name__
    return one_line(f"{type(orig or exc).__name__}: {message}")


def check_task(name: str) -> str:
    if name not in TASKS:
        raise UnknownTask(f"unknown maintenance task {name!r}: choose from {', '.join(TASKS)}")
    return name


async def run_task(
    name: str,
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    now: datetime | None = None,
    due_since: datetime | None = None,
) -> RunResult:
    """Run `name` once, if no other run holds its lock, and record the outcome.

    `due_since`: a scheduled run; it runs only if the task is still due (see
    `record.is_due`) once the lock is held, so two schedulers never run it twice for one
    scheduled time. A task's error is its run's `failed` outcome (the traceback goes to the
    log), not an exception; errors of the record itself (no database) are raised.
    """
    check_task(name)
    own = engine is None
    if engine is None:
        # Disposed after the run: with it go the connections (the lock's was unlocked first).
        engine = create_engine(settings)
    started = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        async with TaskLock(engine, settings.data_dir, name).hold() as held:
            if not held:
                detail = "another run of this task holds its lock"
                if due_since is None:
                    # A scheduled run that meets another (a second scheduler, or a hand run)
                    # leaves no record: the holder does that work and records it.
                    await record_skipped(engine, name, started, detail)
                return RunResult(name, "skipped", detail, started, started)
            if due_since is not None:
                state = (await read_state_of(engine)).tasks[name]
                # A sender's clock a little ahead (beat on another machine) is still on time.
                ahead = started + timedelta(seconds=CLOCK_TOLERANCE)
                if not is_due(state, ahead, due_since):
                    return RunResult(name, "not due", "already ran since its scheduled time",
                                     started, started)
            run_id = await start_run(engine, name, started)
            clock = time.monotonic()
            outcome: Outcome
            try:
                detail = await TASK_FUNCTIONS[name](Context(engine, settings, started))
                outcome = "succeeded"
            except Exception as exc:
                logger.exception("maintenance %s failed", name)
                detail, outcome = _reason(exc), "failed"
            finished = started + timedelta(seconds=time.monotonic() - clock)
            await finish_run(engine, run_id, MaintenanceOutcome(outcome), detail, finished)
            logger.info("maintenance %s %s: %s", name, outcome, detail)
            return RunResult(name, outcome, one_line(detail), started, finished)
    finally:
        if own:
            await engine.dispose()


def run_task_sync(name: str, settings: Settings, **kwargs: Any) -> RunResult:
    """`run_task` on an event loop of its own (a thread, a Celery task, the CLI)."""
    return asyncio.run(run_task(name, settings, **kwargs))

