"""Shared by the storage benchmarks: a throw-away PostgreSQL database, timing helpers.

Every benchmark creates its own database next to CHUNKYARD_BENCH_DATABASE_URL (default: the
local server's `test` database), migrates it to head, and drops it when done, even on error.
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from chunkyard.settings import Settings
from chunkyard.storage import migrate

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@asynccontextmanager
async def bench_database(label: str) -> AsyncIterator[Settings]:
    """Settings for a fresh PostgreSQL database at head; dropped afterwards."""
    admin = make_url(os.environ.get("CHUNKYARD_BENCH_DATABASE_URL", DEFAULT_URL))
    admin_url = admin.render_as_string(hide_password=False)
    name = f"chunkyard_bench_{label}_{secrets.token_hex(3)}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                database_url=admin.set(database=name).render_as_string(hide_password=False),
                data_dir=Path(data_dir),
            )
            await migrate.upgrade(settings)
            yield settings
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), by the inclusive method."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(q) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.start = now - self.start, now
        return elapsed
