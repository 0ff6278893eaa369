"""The SQLite connection under SQLAlchemy's `sqlite+aiosqlite` dialect: one thread hop per
statement instead of four or five.

aiosqlite runs each SQLite connection on a thread of its own and sends it every call: making a
cursor, executing, fetching, closing; SQLAlchemy's adapter makes all of them for each statement,
and a `BEGIN`, a `COMMIT` and the pool's `ROLLBACK` on return besides. Each hop hands the GIL
to that thread and back (about 0.2 ms on a busy event loop), which made one authenticated read
of one row cost about 4 ms of CPU, a tenth of what the same server's `/healthz` costs.

This connection keeps aiosqlite's thread and interface and changes what a hop carries:

- a statement is executed and its first rows fetched in one hop (a query with more rows keeps
  its cursor open and fetches the rest when asked, so a streamed query stays streamed);
- a plain `BEGIN` (SQLite's deferred transaction, which takes no lock before the first
  statement anyway) is sent with the next statement rather than on its own;
- `commit()` and `rollback()` are hops only when a transaction is open (the thread reports
  `in_transaction` after each statement), so a read that ran nothing, and the pool's reset of
  a connection that already committed, cost nothing.

`BEGIN IMMEDIATE` (a writing request's lock) is sent at once, as before: it may wait.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

import aiosqlite

# Rows fetched in the hop that executes a statement; a query with more fetches the rest (all of
# it for `fetchall`, as SQLAlchemy's buffered cursor asks; `fetchmany` batches when streamed).
PREFETCH_ROWS = 1000

T = TypeVar("T")
_Fetched = tuple["sqlite3.Cursor | None", list[Any], Any, int, "int | None", bool]


class FastConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements, `BEGIN` and idle commits cost one hop or none."""

    def __init__(self, connector: Any, iter_chunk_size: int = 64) -> None:
        super().__init__(connector, iter_chunk_size)
        self._thread.daemon = True  # as SQLAlchemy's dialect makes aiosqlite's own
        self.begin_pending = False
        self.tx_open = False

    def cursor(self) -> Any:
        return FastCursor(self)

    async def commit(self) -> None:
        await self._end(lambda raw: raw.commit())

    async def rollback(self) -> None:
        await self._end(lambda raw: raw.rollback())

    async def _end(self, end: Any) -> None:
        self.begin_pending = False
        if not self.tx_open:
            return

        def run() -> bool:
            raw = self._conn
            end(raw)
            return raw.in_transaction

        self.tx_open = await self.hop(run)

    async def hop(self, fn: Callable[[], T]) -> T:
        """`fn()` on the connection's thread (aiosqlite's one way there)."""
        return cast(T, await self._execute(fn))  # type: ignore[no-untyped-call]

    def take_begin(self) -> bool:
        pending, self.begin_pending = self.begin_pending, False
        return pending


class FastCursor:
    """aiosqlite's cursor interface, as SQLAlchemy's adapter uses it (async methods)."""

    def __init__(self, connection: FastConnection) -> None:
        self._connection = connection
        self._cursor: sqlite3.Cursor | None = None
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> FastCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> FastCursor:
        connection = self._connection
        if sql == "BEGIN" and not parameters:
            connection.begin_pending = True  # sent with the next statement
            self.description, self.rowcount = None, -1
            return self
        await self._close_open()
        begin = connection.take_begin()
        params = () if parameters is None else parameters

        def run() -> _Fetched:
            raw = connection._conn
            if begin:
                raw.execute("BEGIN")
            try:
                cursor = raw.execute(sql, params)
            except BaseException:
                in_tx = raw.in_transaction
                connection.tx_open = in_tx
                raise
            return _first_rows(cursor, raw.in_transaction)

        try:
            fetched = await connection.hop(run)
        except BaseException:
            if begin and not connection.tx_open:
                connection.begin_pending = False
            raise
        self._take(fetched)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> FastCursor:
        connection = self._connection
        await self._close_open()
        begin = connection.take_begin()
        rows = list(parameters)

        def run() -> _Fetched:
            raw = connection._conn
            if begin:
                raw.execute("BEGIN")
            cursor = raw.executemany(sql, rows)
            return _first_rows(cursor, raw.in_transaction)

        self._take(await connection.hop(run))
        return self

    def _take(self, fetched: _Fetched) -> None:
        self._cursor, rows, self.description, self.rowcount, self.lastrowid, in_tx = fetched
        self._rows = deque(rows)
        self._connection.tx_open = in_tx

    async def fetchone(self) -> Any:
        if not self._rows:
            await self._more(1)
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = self.arraysize if size is None else size
        if len(self._rows) < size:
            await self._more(size - len(self._rows))
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> Sequence[Any]:
        if self._cursor is not None:
            await self._more(None)
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def _more(self, at_least: int | None) -> None:
        """Fetch `at_least` more rows (all that are left for None) from the open cursor."""
        cursor = self._cursor
        if cursor is None:
            return

        def run() -> tuple[list[Any], bool]:
            rows = cursor.fetchall() if at_least is None else cursor.fetchmany(
                max(at_least, PREFETCH_ROWS))
            done = at_least is None or len(rows) < max(at_least, PREFETCH_ROWS)
            if done:
                cursor.close()
            return rows, done

        rows, done = await self._connection.hop(run)
        self._rows.extend(rows)
        if done:
            self._cursor = None

    async def _close_open(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            await self._connection.hop(cursor.close)

    async def close(self) -> None:
        self._rows.clear()
        await self._close_open()


def _first_rows(cursor: sqlite3.Cursor, in_transaction: bool) -> _Fetched:
    """In the connection's thread: the first rows of what `cursor` executed, and what SQLAlchemy
    reads after it; the cursor is closed unless rows are left."""
    rows: list[Any] = []
    left: sqlite3.Cursor | None = None
    if cursor.description is not None:
        rows = cursor.fetchmany(PREFETCH_ROWS)
        if len(rows) == PREFETCH_ROWS:
            left = cursor
    result: _Fetched = (left, rows, cursor.description, cursor.rowcount, cursor.lastrowid,
                        in_transaction)
    if left is None:
        cursor.close()
    return result


def connect(database: str, **kwargs: Any) -> FastConnection:
    """What `aiosqlite.connect` makes, with `FastConnection`: the dialect's `async_creator_fn`."""
    kwargs.pop("iter_chunk_size", None)

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return connection

    return FastConnection(connector)
