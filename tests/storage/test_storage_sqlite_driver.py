"""The SQLite connection of `storage/sqlite_driver.py`: the same transactions and results as
aiosqlite's, in fewer thread hops (one per statement; none for a `BEGIN` or an idle commit).

Hops are counted on the real connection (`FastConnection._execute`, the one way into its
thread); the transaction semantics are checked with a second connection writing meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from chunkyard.storage import sqlite_driver
from chunkyard.storage.engine import SQLITE_WRITE_OPTION, create_engine


@asynccontextmanager
async def engine_on(path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout=0.2)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
        yield engine
    finally:
        await engine.dispose()


class Hops:
    """Counts the calls sent to one connection's thread."""

    def __init__(self, driver: sqlite_driver.FastConnection, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        send: Any = driver._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await send(fn, *args, **kwargs)

        monkeypatch.setattr(driver, "_execute", counted)


async def _driver(connection: Any) -> sqlite_driver.FastConnection:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, sqlite_driver.FastConnection)
    return driver


async def test_a_read_transaction_is_one_hop_per_statement_and_one_for_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine_on(tmp_path / "db.sqlite") as engine:
        async with engine.connect() as connection:
            hops = Hops(await _driver(connection), monkeypatch)
            transaction = await connection.begin()  # BEGIN: sent with the next statement
            assert hops.count == 0
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0
            assert hops.count == 1
            assert (await connection.execute(text("SELECT 1 UNION SELECT 2"))).all() == [
                (1,), (2,)]
            assert hops.count == 2
            await transaction.commit()
            assert hops.count == 3
        # Back in the pool: its reset (a rollback) finds no transaction and sends nothing.
        assert hops.count == 3


async def test_a_transaction_that_runs_nothing_costs_no_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine_on(tmp_path / "db.sqlite") as engine, engine.connect() as connection:
        hops = Hops(await _driver(connection), monkeypatch)
        transaction = await connection.begin()
        await transaction.commit()
        transaction = await connection.begin()
        await transaction.rollback()
        assert hops.count == 0


async def test_the_deferred_begin_still_reads_one_snapshot(tmp_path: Path) -> None:
    """A reader's transaction holds the snapshot of its first statement while a writer commits:
    the BEGIN sent with that statement is a real one."""
    async with (engine_on(tmp_path / "db.sqlite") as engine, engine.connect() as reader,
                engine.connect() as writer):
        await reader.begin()
        before = (await reader.execute(text("SELECT count(*) FROM t"))).scalar()
        async with writer.begin():
            await writer.execute(text("INSERT INTO t VALUES (1), (2)"))
        again = (await reader.execute(text("SELECT count(*) FROM t"))).scalar()
        assert (before, again) == (0, 0)
        await reader.commit()
        assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar() == 2


async def test_a_write_transaction_takes_the_lock_at_once_and_a_rollback_undoes_it(
    tmp_path: Path,
) -> None:
    async with engine_on(tmp_path / "db.sqlite") as engine:
        async with engine.connect() as first, engine.connect() as second:
            locked = await first.execution_options(**{SQLITE_WRITE_OPTION: True})
            await locked.begin()  # BEGIN IMMEDIATE: sent now, it holds the write lock
            contender = await second.execution_options(**{SQLITE_WRITE_OPTION: True})
            with pytest.raises(Exception, match="locked"):
                await contender.begin()
            await second.rollback()
            updated = await locked.execute(text("INSERT INTO t VALUES (7), (8), (9)"))
            assert updated.rowcount == 3
            await locked.rollback()
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_many_rows_come_whole_and_streamed(tmp_path: Path) -> None:
    count = sqlite_driver.PREFETCH_ROWS * 2 + 17
    async with engine_on(tmp_path / "db.sqlite") as engine:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (:n)"),
                                     [{"n": n} for n in range(count)])
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT n FROM t ORDER BY n"))).all()
            assert [r[0] for r in rows] == list(range(count))
            streamed = await connection.stream(text("SELECT n FROM t ORDER BY n"))
            seen = [row[0] async for part in streamed.partitions(300) for row in part]
            assert seen == list(range(count))
            first = await connection.stream(text("SELECT n FROM t ORDER BY n"))
            assert (await first.fetchmany(5)) == [(0,), (1,), (2,), (3,), (4,)]
            await first.close()  # its open cursor closed early; the connection goes on
            assert (await connection.execute(text("SELECT max(n) FROM t"))).scalar() == count - 1


async def test_a_failing_statement_leaves_the_connection_usable(tmp_path: Path) -> None:
    async with engine_on(tmp_path / "db.sqlite") as engine, engine.connect() as connection:
        await connection.begin()
        await connection.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(Exception, match="no such table"):
            await connection.execute(text("SELECT * FROM missing"))
        await connection.rollback()  # the open transaction (the insert) is undone
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        await connection.rollback()
        await connection.begin()  # a BEGIN deferred onto a failing statement
        with pytest.raises(Exception, match="no such table"):
            await connection.execute(text("SELECT * FROM missing"))
        await connection.rollback()
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0
