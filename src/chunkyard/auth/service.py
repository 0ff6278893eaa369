"""Users and credentials: create users and API keys, check passwords, resolve bearer tokens,
and revoke: sessions (logout, a password change), API keys, and a whole user (disable).

Services only flush; the caller (a request, or the CLI helpers below) commits. Password
hashing is CPU work and runs in the small argon2 pool (`passwords.pool`), off the event loop.

A credential is live when its row says so: a token's session (`auth_sessions`, the token's
`sid`) or an API key is not revoked, and its user is not disabled. `resolve` reads that on
every lookup; `auth.cache` keeps a lookup for at most a second, so a revocation holds within
that in every API process (and at once in the process that made it).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth import api_keys, passwords, tokens
from chunkyard.kit.errors import Conflict, Invalid, NotFound, Unauthorized
from chunkyard.settings import Settings
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import ApiKey, AuthSession, User, utcnow
from chunkyard.storage.prepare import prepare_database

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,149}")
MIN_PASSWORD_LENGTH = 8
T = TypeVar("T")
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for, and how they proved it ("token", "cookie" or "api_key")."""

    id: uuid.UUID
    username: str
    is_admin: bool
    created_at: datetime
    via: str
    # The session of a token or cookie, the key of an API key (else None).
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None


def _principal(
    user: User,
    via: str,
    *,
    session_id: uuid.UUID | None = None,
    api_key_id: uuid.UUID | None = None,
) -> Principal:
    return Principal(user.id, user.username, user.is_admin, user.created_at, via,
                     session_id, api_key_id)


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
    password_hash = await passwords.pool.run(passwords.hash_password, password)
    user = User(username=username, password_hash=password_hash, is_admin=admin)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # created at the same moment by someone else
        raise Conflict(f"user {username!r} already exists", code="user_exists") from None
    return user


async def _user_named(session: AsyncSession, username: str) -> User:
    user = await get_user_by_name(session, username)
    if user is None:
        raise NotFound(f"user {username!r} does not exist", code="user_not_found")
    return user


MAX_KEY_NAME_LENGTH = 100


async def create_api_key(session: AsyncSession, username: str, name: str = "") -> str:
    """A new API key for `username`; returns the plaintext, which is not stored anywhere."""
    if len(name) > MAX_KEY_NAME_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise Invalid(
            f"name: at most {MAX_KEY_NAME_LENGTH} characters, no control characters",
            code="invalid_key_name",
        )
    user = await _user_named(session, username)
    key = api_keys.generate_key()
    session.add(ApiKey(user_id=user.id, prefix=key.prefix, key_hash=key.key_hash, name=name))
    await session.flush()
    return key.plaintext


async def list_api_keys(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    """The user's live (unrevoked) keys, oldest first."""
    rows = await session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id)
    )
    return list(rows)


async def revoke_api_key(session: AsyncSession, user_id: uuid.UUID, prefix: str) -> bool:
    """Revoke one of the user's keys by its prefix; False if there is no such live key."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_api_key_by_id(
    session: AsyncSession, key_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> ApiKey | None:
    """Revoke a live key by its id (only the user's, when `user_id` is given); the key, or
    None if there is no such live key."""
    query = select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    key: ApiKey | None = await session.scalar(query)
    if key is None:
        return None
    key.revoked_at = utcnow()
    await session.flush()
    return key


async def find_login_user(session: AsyncSession, username: str) -> User | None:
    """The user a login names, or None: read on its own, so that the caller can give the
    connection back before `authenticate` waits for the password pool."""
    return await get_user_by_name(session, username) if len(username) <= 150 else None


async def authenticate(user: User | None, password: str) -> User | None:
    """`user` if the password is right and the user is not disabled, else None.

    An unknown user (None) costs the same password verification as a wrong password, so
    neither the answer nor its timing tells whether a user exists (nor whether one is
    disabled). Raises `passwords.PasswordPoolBusy` when too many checks are under way already.
    No database connection may be held meanwhile: the check can wait behind a flood of other
    logins, and if each held one, the flood would hold them all (every other request would
    wait for one, then fail).
    """
    if user is None:
        await passwords.pool.run(passwords.burn_verify_time, password)
        return None
    ok = await passwords.pool.run(passwords.verify_password, user.password_hash, password)
    return user if ok and user.disabled_at is None else None


# -- sessions -------------------------------------------------------------------------------


async def start_session(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    ttl: timedelta = tokens.ACCESS_TOKEN_TTL,
) -> str:
    """A new session of the user, as the signed token that names it."""
    now = utcnow()
    row = AuthSession(user_id=user_id, created_at=now, expires_at=now + ttl)
    session.add(row)
    await session.flush()
    return tokens.create_access_token(settings, user_id, row.id, ttl=ttl, now=now)


async def revoke_session(session: AsyncSession, session_id: uuid.UUID) -> bool:
    """End one session; False if it had ended already."""
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_user_sessions(
    session: AsyncSession, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
) -> int:
    """End every live session of the user but `keep`; how many were ended."""
    query = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    result = await session.execute(query.values(revoked_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def change_password(
    session: AsyncSession, principal: Principal, current_password: str, new_password: str
) -> int:
    """Set a new password if `current_password` is right, and end every other session of
    the user (the one the request came with stays); how many sessions were ended.

    Raises `Unauthorized` for a wrong current password, `Invalid` for a bad new one.
    """
    validate_password(new_password)
    user = await session.get(User, principal.id, with_for_update=True)
    if user is None or user.disabled_at is not None:
        raise Unauthorized("the credentials are not valid or have expired", code="invalid_token")
    ok = await passwords.pool.run(
        passwords.verify_password, user.password_hash, current_password
    )
    if not ok:
        raise Unauthorized("the current password is wrong", code="invalid_credentials")
    user.password_hash = await passwords.pool.run(passwords.hash_password, new_password)
    await session.flush()
    return await revoke_user_sessions(session, user.id, keep=principal.session_id)


async def set_user_disabled(session: AsyncSession, username: str, disabled: bool) -> User:
    """Disable a user (no sign-in; every session and API key of theirs revoked at once), or
    enable them again (their revoked credentials stay revoked). NotFound if no such user."""
    user = await _user_named(session, username)
    if disabled:
        now = utcnow()
        if user.disabled_at is None:
            user.disabled_at = now
        await revoke_user_sessions(session, user.id)
        await session.execute(
            update(ApiKey)
            .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    else:
        user.disabled_at = None
    await session.flush()
    return user


@dataclass(frozen=True, slots=True)
class Resolved:
    """A credential's principal, and when the credential expires (Unix time; None for an API
    key, which lives until it is revoked)."""

    principal: Principal
    expires_at: float | None
    # An API key's last recorded use (auth/usage.py), else None.
    last_used_at: datetime | None = None


async def resolve(
    session: AsyncSession, settings: Settings, credential: str, *, via: str
) -> Resolved | None:
    """The principal of a bearer token or API key, and its expiry; None if it is not valid
    (any reason: bad, expired, revoked, or its user disabled or deleted)."""
    if api_keys.looks_like_key(credential):
        # The cookie only ever holds a token we issued at login.
        prefix = api_keys.parse_prefix(credential) if via != "cookie" else None
        if prefix is None:
            return None
        row = (
            await session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(
                    ApiKey.prefix == prefix,
                    ApiKey.revoked_at.is_(None),
                    User.disabled_at.is_(None),
                )
            )
        ).first()
        if row is None or not api_keys.key_matches(credential, row.ApiKey.key_hash):
            return None
        principal = _principal(row.User, "api_key", api_key_id=row.ApiKey.id)
        return Resolved(principal, None, row.ApiKey.last_used_at)
    claims = tokens.read_access_claims(settings, credential)
    if claims is None:
        return None
    found = (
        await session.execute(
            select(User)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(
                AuthSession.id == claims.session_id,
                AuthSession.user_id == claims.user_id,
                AuthSession.revoked_at.is_(None),
                User.disabled_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if found is None:
        return None
    principal = _principal(found, via, session_id=claims.session_id)
    return Resolved(principal, float(claims.expires_at))


async def resolve_credential(
    session: AsyncSession, settings: Settings, credential: str, *, via: str
) -> Principal | None:
    """The principal of a bearer token or API key; None if it is not valid (any reason)."""
    resolved = await resolve(session, settings, credential, via=via)
    return None if resolved is None else resolved.principal


# -- synchronous helpers for the command line ----------------------------------------------


async def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work` in one committed transaction on a migrated database; on SQLite the write lock
    is taken first, or a concurrent writer turns a read-then-write into "database is locked"."""
    await prepare_database(settings)
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            await dialect_for(session).begin_write(session)
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def cli_create_user(settings: Settings, username: str, password: str, admin: bool = False) -> None:
    """`chunkyard users create`: raises `ServiceError` (Conflict, Invalid) with a clear message."""

    async def work(session: AsyncSession) -> None:
        await create_user(session, username, password, admin)

    asyncio.run(_in_transaction(settings, work))


def cli_set_user_disabled(settings: Settings, username: str, disabled: bool = True) -> None:
    """`chunkyard users disable|enable`. NotFound if there is no such user."""

    async def work(session: AsyncSession) -> None:
        await set_user_disabled(session, username, disabled)

    asyncio.run(_in_transaction(settings, work))


def cli_create_api_key(settings: Settings, username: str, name: str = "") -> str:
    """`chunkyard api-keys create`: the new key's plaintext (print it once). NotFound if no user."""

    async def work(session: AsyncSession) -> str:
        return await create_api_key(session, username, name)

    return asyncio.run(_in_transaction(settings, work))


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


def cli_list_api_keys(settings: Settings, username: str) -> list[KeyInfo]:
    """`chunkyard api-keys list`: the user's live keys. NotFound if no user."""

    async def work(session: AsyncSession) -> list[KeyInfo]:
        user = await _user_named(session, username)
        return [KeyInfo(k.id, k.name, k.prefix, k.created_at, k.last_used_at)
                for k in await list_api_keys(session, user.id)]

    return asyncio.run(_in_transaction(settings, work))


def cli_revoke_api_key(settings: Settings, key: str) -> KeyInfo:
    """`chunkyard api-keys revoke`: revoke a live key by its id or its prefix (as listed);
    the key. NotFound if there is no such live key."""

    async def work(session: AsyncSession) -> KeyInfo:
        try:
            found = await revoke_api_key_by_id(session, uuid.UUID(key))
        except ValueError:
            row: ApiKey | None = await session.scalar(
                select(ApiKey).where(ApiKey.prefix == key, ApiKey.revoked_at.is_(None))
            )
            found = None if row is None else await revoke_api_key_by_id(session, row.id)
        if found is None:
            raise NotFound(f"no live API key {key!r}", code="api_key_not_found")
        return KeyInfo(found.id, found.name, found.prefix, found.created_at, found.last_used_at)

    return asyncio.run(_in_transaction(settings, work))
