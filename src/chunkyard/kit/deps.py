"""`Annotated` dependency aliases for routes: `SessionDep`, `ReadSessionDep`, `SettingsDep`,
`SessionFactoryDep`, `ChunkingLimiterDep`, and `app_service(name)` for the services the app's
lifespan opens (`worker/mode.py: AppServices`); each domain names its own typed alias of those
(`chunking/deps.py`, `operations/deps.py`). Routes never read `app.state` themselves, so a
test can swap any of them with `app.dependency_overrides`.

(`CurrentUser` is the auth domain's, in `chunkyard.auth.dependencies`.)
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.requests import HTTPConnection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for

# Methods that change state: their requests take the write lock, and need a same-origin check
# when authenticated by cookie (see `auth.dependencies`).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_settings_dep(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def get_session_factory(connection: HTTPConnection) -> async_sessionmaker[AsyncSession]:
    """The app's session factory, for work that opens short sessions of its own (streams,
    WebSockets, reads that must not hold a connection while chunking)."""
    factory: async_sessionmaker[AsyncSession] = connection.app.state.session_factory
    return factory


@functools.cache
def app_service(name: str) -> Callable[[HTTPConnection], Any]:
    """A dependency giving the app's service `name` (an attribute of `AppServices`); the same
    function for the same name, so `app.dependency_overrides[app_service(name)]` swaps it."""

    def dependency(connection: HTTPConnection) -> Any:
        return getattr(connection.app.state.services, name)

    dependency.__name__ = f"get_{name}"
    return dependency


@asynccontextmanager
async def transaction(
    factory: async_sessionmaker[AsyncSession], *, write: bool
) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the block ends and rolls back if it raises;
    `write` takes SQLite's write lock up front (a read-then-write cannot fail halfway)."""
    async with factory() as session:
        if write:
            await dialect_for(session).begin_write(session)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session; the request owns the transaction.

    Committed when the route returns (before the response is sent, see `scope="function"`),
    rolled back if it raises. A writing request (POST/PUT/PATCH/DELETE) takes SQLite's write
    lock up front, so a read-then-write cannot fail halfway on a concurrent writer.
    """
    async with transaction(get_session_factory(request),
                           write=request.method in UNSAFE_METHODS) as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a request that only reads, whatever its method (e.g. login)."""
    async with transaction(get_session_factory(request), write=False) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
SessionFactoryDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)]
# The app's bound on chunking threads (one per app: a limiter belongs to one loop).
ChunkingLimiterDep = Annotated[anyio.CapacityLimiter, Depends(app_service("chunking_limiter"))]
