"""Factories for the API tests: plain functions that make users, tokens and collections."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth.passwords import hash_password
from chunkyard.auth.service import cli_create_api_key, cli_create_user, start_session
from chunkyard.settings import Settings
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import User

PASSWORD = "correct horse battery staple"
API = "/api/v1"

T = TypeVar("T")


@dataclass
class Api:
    """A running app: its settings and a client (cookie jar emptied for each test)."""

    backend: str
    settings: Settings
    client: TestClient


def new_username(label: str = "user") -> str:
    return f"{label}-{secrets.token_hex(5)}"


def make_user(api: Api, *, admin: bool = False, password: str = PASSWORD) -> str:
    username = new_username()
    cli_create_user(api.settings, username, password, admin)
    return username


def login(api: Api, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Bearer headers for `username`; leaves the client's cookie jar empty."""
    response = api.client.post(
        f"{API}/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    api.client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(PASSWORD)


def user_headers(api: Api, *, admin: bool = False) -> dict[str, str]:
    """Bearer headers for a new user, made directly (login itself is tested elsewhere):
    argon2 costs a third of a second per user made and logged in."""

    async def insert(session: AsyncSession) -> str:
        user = User(username=new_username(), password_hash=_password_hash(), is_admin=admin)
        session.add(user)
        await session.flush()
        return await start_session(session, api.settings, user.id)

    return {"Authorization": f"Bearer {in_db(api.settings, insert)}"}


def session_token(api: Api, user_id: uuid.UUID, **ttl: Any) -> str:
    """A token of a new session of `user_id` (`ttl=timedelta(...)` to choose its life)."""

    async def insert(session: AsyncSession) -> str:
        return await start_session(session, api.settings, user_id, **ttl)

    return in_db(api.settings, insert)


def api_key_headers(api: Api) -> dict[str, str]:
    key = cli_create_api_key(api.settings, make_user(api))
    return {"Authorization": f"Bearer {key}"}


def create_collection(
    api: Api, headers: dict[str, str], name: str | None = None, **body: Any
) -> dict[str, Any]:
    payload = {"name": name or new_username("collection"), **body}
    response = api.client.post(f"{API}/collections", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is SPEC's error body with `status` (and `code`, when given)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["error"] == code, body
    return body


def in_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work(session)` in one committed transaction, outside the app."""

    async def run() -> T:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """The SQL statements the app runs meanwhile."""
    seen: list[str] = []
    app: Any = api.client.app
    engine = app.state.engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def every_item(api: Api, url: str, headers: dict[str, str], limit: int = 100
               ) -> list[dict[str, Any]]:
    """Every item of a keyset-paged listing, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(url, params=params, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
