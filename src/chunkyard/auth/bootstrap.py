"""The first user of a new installation: `admin`, with a random password shown once.

Every route but login needs a user, so a fresh service would be unusable until someone found
`chunkyard users create`. Instead, `chunkyard serve` calls `ensure_first_user` before it
starts: on a database with no users at all it creates the administrator `admin` with a random
password and returns that password for the command to print once; only its argon2 hash is
stored. Once any user exists (this one, or one made with `chunkyard users create` before the
first start) it does nothing, so later starts never print a password again.

This holds for any database with zero users, the embedded SQLite file and PostgreSQL alike.

Two processes starting at once on an empty database are safe: on SQLite the write lock is
taken before the users are counted, so the second one finds the first one's user; on
PostgreSQL both may see no users, but the username is unique, so only one insert succeeds and
the other process creates (and prints) nothing.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth.service import create_user
from chunkyard.kit.errors import Conflict
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import User

FIRST_USERNAME = "admin"
# 24 URL-safe characters: 144 random bits, and easy to copy from a terminal.
PASSWORD_BYTES = 18


async def create_first_user(session: AsyncSession) -> str | None:
    """`admin` with a random password if there are no users; the password, else None.

    Call it on a session with no transaction yet: it begins a write transaction (SQLite's
    write lock, taken before the users are counted), which the caller commits. Raises
    `Conflict` if another process created `admin` at the same moment (roll back then).
    """
    await dialect_for(session).begin_write(session)
    if await session.scalar(select(User.id).limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    await create_user(session, FIRST_USERNAME, password, admin=True)
    return password


async def ensure_first_user(settings: Settings) -> str | None:
    """Create the first user if the (migrated) database has none; its password, else None."""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            try:
                password = await create_first_user(session)
                await session.commit()
            except Conflict:  # another process made it between our look and our insert
                await session.rollback()
                return None
            return password
    finally:
        await engine.dispose()
