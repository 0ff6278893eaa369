"""`Annotated` dependency aliases for routes: `SessionDep`, `CurrentUser`, `SettingsDep`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.auth.dependencies import UNSAFE_METHODS, current_user
from chunkyard.auth.service import Principal
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for


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
CurrentUser = Annotated[Principal, Depends(current_user)]
