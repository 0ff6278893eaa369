"""One run of a maintenance task at a time, across every process that shares the database.

PostgreSQL: `pg_try_advisory_lock` on a connection of its own, held for the run and unlocked
before the connection goes back to its pool (invalidated if the unlock fails; a process that
dies drops its connection, and so the lock). SQLite: an exclusive
`flock` on a file beside the database file (`<db>.maintenance-<task>.lock`); the kernel drops
it when its process dies. Neither waits: a busy lock is `held = False`, and the run is
recorded as skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from chunkyard.maintenance.schedule import TASKS

# Advisory lock ids: a fixed 64-bit base (it spells CHNKMNT) plus the task's place in TASKS.
ADVISORY_LOCK_BASE = 0x43484E4B4D4E0000


def advisory_lock_id(task: str) -> int:
    return ADVISORY_LOCK_BASE + TASKS.index(task)


def lock_file(engine: AsyncEngine, data_dir: Path, task: str) -> Path:
    """Where a SQLite database's lock for `task` is: beside the file (or in the data dir)."""
    database = engine.url.database
    if database and database != ":memory:":
        path = Path(database).expanduser()
        return path.with_name(f"{path.name}.maintenance-{task}.lock")
    return data_dir.expanduser() / f"maintenance-{task}.lock"


class TaskLock:
    """`async with TaskLock(...).hold() as held:` held is False when another run has it."""

    def __init__(self, engine: AsyncEngine, data_dir: Path, task: str) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.task = task

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        if self.engine.dialect.name == "postgresql":
            async with self._advisory() as held:
                yield held
        else:
            with self._flock() as held:
                yield held

    @contextlib.asynccontextmanager
    async def _advisory(self) -> AsyncIterator[bool]:
        key = advisory_lock_id(self.task)
        async with self.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            held = bool(await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
            try:
                yield held
            finally:
                if held:
                    try:
                        await connection.scalar(
                            text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    except Exception:
                        # The lock must not go back to the pool with the connection.
                        await connection.invalidate()
                        raise

    @contextlib.contextmanager
    def _flock(self) -> Iterator[bool]:
        path = lock_file(self.engine, self.data_dir, self.task)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
