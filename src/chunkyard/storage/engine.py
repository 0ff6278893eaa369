"""The async engine and session factory, built from the settings.

SQLite connections get WAL journaling, foreign keys and a busy timeout; their transactions are
begun by us (`BEGIN`, or `BEGIN IMMEDIATE` for writers, see `dialect.begin_write`) rather than
by the driver, which otherwise starts them late and makes two writers deadlock-prone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from chunkyard.settings import Settings

# Execution option: begin this connection's transaction with `BEGIN IMMEDIATE` on SQLite.
SQLITE_WRITE_OPTION = "chunkyard_sqlite_write"


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
    if isinstance(settings_or_url, Settings):
        settings = settings_or_url
        url = database_url(settings)
        echo = settings.database_echo if echo is None else echo
        if sqlite_busy_timeout is None:
            sqlite_busy_timeout = settings.sqlite_busy_timeout
    else:
        url = make_url(settings_or_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        engine = _create_async_engine(url, echo=bool(echo), **kwargs)
        _configure_sqlite(engine, 30.0 if sqlite_busy_timeout is None else sqlite_busy_timeout)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return _create_async_engine(url, echo=bool(echo), **kwargs)
    raise ValueError(
        f"unsupported database {url.render_as_string(hide_password=True)!r}: "
        "use postgresql+asyncpg://... or sqlite+aiosqlite:///..."
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _configure_sqlite(engine: AsyncEngine, busy_timeout: float) -> None:
    timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver: we emit BEGIN in `_on_begin`.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # The busy timeout first: switching a new database to WAL takes a lock, and two
            # processes starting on it at once must wait for each other, not fail.
            cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
            cursor.execute("PRAGMA journal_mode=WAL")
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
