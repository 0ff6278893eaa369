"""Users and credentials: create users and API keys, check passwords, resolve bearer tokens.

Services only flush; the caller (a request, or the CLI helpers below) commits. Password
hashing is CPU work and runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import anyio
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth import api_keys, passwords, tokens
from chunkyard.kit.errors import Conflict, Invalid, NotFound
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import ApiKey, User, utcnow
from chunkyard.storage.prepare import prepare_database

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,149}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for, and how they proved it ("token", "cookie" or "api_key")."""

    id: uuid.UUID
    username: str
    is_admin: bool
    created_at: datetime
    via: str


def _principal(user: User, via: str) -> Principal:
    return Principal(user.id, user.username, user.is_admin, user.created_at, via)


def validate_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise Invalid(
            "username: use 1 to 150 letters, digits or . _ @ -, starting with a letter or digit",
            code="invalid_username",
        )
    return username


def validate_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Invalid(
            f"password: must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            code="invalid_password",
        )
    return password


async def get_user_by_name(session: AsyncSession, username: str) -> User | None:
    user: User | None = await session.scalar(select(User).where(User.username == username))
    return user


async def create_user(
    session: AsyncSession, username: str, password: str, admin: bool = False
) -> User:
    """A new user; Conflict if the name is taken, Invalid for a bad name or password."""
    validate_username(username)
    validate_password(password)
    if await get_user_by_name(session, username) is not None:
        raise Conflict(f"user {username!r} already exists", code="user_exists")
    password_hash = await anyio.to_thread.run_sync(passwords.hash_password, password)
    user = User(username=username, password_hash=password_hash, is_admin=admin)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # created at the same moment by someone else
        raise Conflict(f"user {username!r} already exists", code="user_exists") from None
    return user


async def create_api_key(session: AsyncSession, username: str) -> str:
    """A new API key for `username`; returns the plaintext, which is not stored anywhere."""
    user = await get_user_by_name(session, username)
    if user is None:
        raise NotFound(f"user {username!r} does not exist", code="user_not_found")
    key = api_keys.generate_key()
    session.add(ApiKey(user_id=user.id, prefix=key.prefix, key_hash=key.key_hash))
    await session.flush()
    return key.plaintext


async def revoke_api_key(session: AsyncSession, user_id: uuid.UUID, prefix: str) -> bool:
    """Revoke one of the user's keys by its prefix; False if there is no such live key."""
    key: ApiKey | None = await session.scalar(
        select(ApiKey).where(
            ApiKey.user_id == user_id, ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)
        )
    )
    if key is None:
        return False
    key.revoked_at = utcnow()
    await session.flush()
    return True


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The user if the password is right, else None.

    An unknown user costs the same password verification as a wrong password, so neither
    the answer nor its timing tells whether a user exists.
    """
    user = await get_user_by_name(session, username) if len(username) <= 150 else None
    if user is None:
        await anyio.to_thread.run_sync(passwords.burn_verify_time, password)
        return None
    ok = await anyio.to_thread.run_sync(passwords.verify_password, user.password_hash, password)
    return user if ok else None


@dataclass(frozen=True, slots=True)
class Resolved:
    """A credential's principal, and when the credential expires (Unix time; None for an API
    key, which lives until it is revoked)."""

    principal: Principal
    expires_at: float | None


async def resolve(
    session: AsyncSession, settings: Settings, credential: str, *, via: str
) -> Resolved | None:
    """The principal of a bearer token or API key, and its expiry; None if it is not valid
    (any reason)."""
    if api_keys.looks_like_key(credential):
        # The cookie only ever holds a token we issued at login.
        prefix = api_keys.parse_prefix(credential) if via != "cookie" else None
        if prefix is None:
            return None
        row = (
            await session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
            )
        ).first()
        if row is None or not api_keys.key_matches(credential, row.ApiKey.key_hash):
            return None
        return Resolved(_principal(row.User, "api_key"), None)
    claims = tokens.read_access_claims(settings, credential)
    if claims is None:
        return None
    user_id, expires_at = claims
    user = await session.get(User, user_id)
    return None if user is None else Resolved(_principal(user, via), float(expires_at))


async def resolve_credential(
    session: AsyncSession, settings: Settings, credential: str, *, via: str
) -> Principal | None:
    """The principal of a bearer token or API key; None if it is not valid (any reason)."""
    resolved = await resolve(session, settings, credential, via=via)
    return None if resolved is None else resolved.principal


# -- synchronous helpers for the command line ----------------------------------------------


async def _create_user_async(settings: Settings, username: str, password: str, admin: bool) -> None:
    await prepare_database(settings)
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            # Reads then writes: on SQLite take the write lock first, or a concurrent writer
            # turns this into "database is locked".
            await dialect_for(session).begin_write(session)
            await create_user(session, username, password, admin)
            await session.commit()
    finally:
        await engine.dispose()


async def _create_api_key_async(settings: Settings, username: str) -> str:
    await prepare_database(settings)
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            await dialect_for(session).begin_write(session)
            key = await create_api_key(session, username)
            await session.commit()
            return key
    finally:
        await engine.dispose()


def cli_create_user(settings: Settings, username: str, password: str, admin: bool = False) -> None:
    """`chunkyard users create`: raises `ServiceError` (Conflict, Invalid) with a clear message."""
    asyncio.run(_create_user_async(settings, username, password, admin))


def cli_create_api_key(settings: Settings, username: str) -> str:
    """`chunkyard api-keys create`: the new key's plaintext (print it once). NotFound if no user."""
    return asyncio.run(_create_api_key_async(settings, username))
