"""Which errors a job retries: real failures of the real servers, classified by `is_transient`.
A database or Redis that is down, or a connection it broke, is transient; a bad statement, a
constraint violation or a bug is not (the operation fails at once, with the error)."""

from __future__ import annotations

import asyncio
import socket

import kombu.exceptions
import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import dbsupport
from chunkyard.core.types import ChunkingError
from chunkyard.kit.transient import is_transient
from chunkyard.settings import Settings
from chunkyard.storage.engine import create_engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def error_of(engine: AsyncEngine, *statements: str) -> BaseException:
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError("no error")


@pytest.fixture
def postgres(databases: dbsupport.Databases) -> Settings:
    return databases.fresh("postgresql")


def test_database_errors(postgres: Settings) -> None:
    url = postgres.resolved_database_url
    down = make_url(url).set(host="127.0.0.1", port=free_port())
    transient = {
        "server down": asyncio.run(error_of(create_engine(down), "SELECT 1")),
        "connection killed": asyncio.run(error_of(
            create_engine(url), "SELECT pg_terminate_backend(pg_backend_pid())")),
    }
    permanent = {
        "bad sql": asyncio.run(error_of(create_engine(url), "SELEC 1")),
        "division by zero": asyncio.run(error_of(create_engine(url), "SELECT 1/0")),
        "constraint": asyncio.run(error_of(
            create_engine(url), "CREATE TEMP TABLE t (x int PRIMARY KEY)",
            "INSERT INTO t VALUES (1), (1)")),
        "no such database": asyncio.run(error_of(
            create_engine(make_url(url).set(database="no_such_database")), "SELECT 1")),
    }
    assert {name: is_transient(e) for name, e in transient.items()} == dict.fromkeys(
        transient, True)
    assert {name: is_transient(e) for name, e in permanent.items()} == dict.fromkeys(
        permanent, False)


def test_redis_errors_and_bugs() -> None:
    dbsupport.require_redis()

    async def redis_down() -> BaseException:
        client = redis.asyncio.Redis(host="127.0.0.1", port=free_port(),
                                     socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
        try:
            await client.ping()
        except Exception as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("no error")

    assert is_transient(asyncio.run(redis_down()))
    # The Celery broker unreachable (kombu wraps what its transport raised).
    assert is_transient(kombu.exceptions.OperationalError("Error 111 connecting"))
    client = redis.Redis.from_url(dbsupport.redis_url())
    try:
        with pytest.raises(redis.exceptions.ResponseError) as wrong:
            client.execute_command("NO-SUCH-COMMAND")
    finally:
        client.close()
    assert not is_transient(wrong.value)
    for bug in (ValueError("bad"), KeyError("x"), ChunkingError("bad input"),
                FileNotFoundError(2, "missing")):
        assert not is_transient(bug)
    # What wraps a transient error is transient (SQLAlchemy and asyncpg chain theirs).
    try:
        try:
            raise ConnectionResetError(104, "reset by peer")
        except OSError as inner:
            raise RuntimeError("while storing") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
