"""The async engine and session factory, built from the settings.

SQLite connections get WAL journaling, foreign keys and a busy timeout; their transactions are
begun by us (`BEGIN`, or `BEGIN IMMEDIATE` for writers, see `dialect.begin_write`) rather than
by the driver, which otherwise starts them late and makes two writers deadlock-prone.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.util import await_

from chunkyard.settings import Settings
from chunkyard.storage import sqlite_driver

# Execution option: begin this connection's transaction with `BEGIN IMMEDIATE` on SQLite.
SQLITE_WRITE_OPTION = "chunkyard_sqlite_write"

# Pause between tries to switch a new SQLite database to WAL while another connection does.
WAL_RETRY_SECONDS = 0.02


def database_url(settings: Settings) -> URL:
    """The database URL of `settings`; creates the data directory for the SQLite default."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return url


def create_engine(
    settings_or_url: Settings | str | URL,
    *,
    echo: bool | None = None,
    sqlite_busy_timeout: float | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for a URL or for `settings` (`postgresql+asyncpg` or `sqlite+aiosqlite`)."""
    pool_size = Settings.model_fields["database_pool_size"].default
    if isinstance(settings_or_url, Settings):
        settings = settings_or_url
        pool_size = settings.database_pool_size
        url = database_url(settings)
        echo = settings.database_echo if echo is None else echo
        if sqlite_busy_timeout is None:
            sqlite_busy_timeout = settings.sqlite_busy_timeout
    else:
        url = make_url(settings_or_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        # One thread hop per statement (see sqlite_driver.py), not aiosqlite's four or five.
        kwargs["connect_args"] = {"async_creator_fn": sqlite_driver.connect,
                                  **kwargs.get("connect_args", {})}
        if url.database not in (None, "", ":memory:"):
            _fixed_pool(kwargs, pool_size)
        engine = _create_async_engine(url, echo=bool(echo), **kwargs)
        _configure_sqlite(engine, 30.0 if sqlite_busy_timeout is None else sqlite_busy_timeout)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        _fixed_pool(kwargs, pool_size)
        return _create_async_engine(url, echo=bool(echo), **kwargs)
    raise ValueError(
        f"unsupported database {url.render_as_string(hide_password=True)!r}: "
        "use postgresql+asyncpg://... or sqlite+aiosqlite:///..."
    )


def _fixed_pool(kwargs: dict[str, Any], size: int) -> None:
    """`size` connections kept open and no overflow (see `Settings.database_pool_size`), unless
    the caller chose another pool."""
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", size)
        kwargs.setdefault("max_overflow", 0)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _enter_wal(cursor: Any, busy_timeout: float) -> None:
    """`PRAGMA journal_mode=WAL`, retried while another connection holds the lock.

    Switching a new database to WAL needs its exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, to a connection that meets another one switching
    the same file (it already holds a read lock, and waiting could deadlock). Two processes, or
    two engines, opening a new database together must wait for each other, not fail.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as error:  # the driver's OperationalError, adapted by SQLAlchemy
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        await_(asyncio.sleep(WAL_RETRY_SECONDS))


def _configure_sqlite(engine: AsyncEngine, busy_timeout: float) -> None:
    timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver: we emit BEGIN in `_on_begin`.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
            _enter_wal(cursor, busy_timeout)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(SQLITE_WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
