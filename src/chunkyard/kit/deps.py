"""`Annotated` dependency aliases for routes: `SessionDep`, `ReadSessionDep`, `SettingsDep`.

(`CurrentUser` is the auth domain's, in `chunkyard.auth.dependencies`.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for

# Methods that change state: their requests take the write lock, and need a same-origin check
# when authenticated by cookie (see `auth.dependencies`).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@asynccontextmanager
async def _transaction(request: Request, *, write: bool) -> AsyncIterator[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
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
    async with _transaction(request, write=request.method in UNSAFE_METHODS) as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a request that only reads, whatever its method (e.g. login)."""
    async with _transaction(request, write=False) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


def chunking_limiter(request: Request) -> anyio.CapacityLimiter:
    """The app's bound on chunking threads (one per app: a limiter belongs to one loop)."""
    limiter: anyio.CapacityLimiter = request.app.state.chunking_limiter
    return limiter
