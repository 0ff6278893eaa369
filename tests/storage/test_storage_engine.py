"""The engine: SQLite pragmas (WAL, foreign keys, busy timeout), supported URLs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from chunkyard.settings import Settings
from chunkyard.storage.engine import create_engine


async def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", sqlite_busy_timeout=7.5)
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
            assert await connection.scalar(text("PRAGMA busy_timeout")) == 7500
    finally:
        await engine.dispose()
    assert (tmp_path / "data" / "chunkyard.db").is_file()


async def _journal_mode(url: str) -> str:
    engine = create_engine(url, sqlite_busy_timeout=10)
    try:
        async with engine.connect() as connection:
            return str(await connection.scalar(text("PRAGMA journal_mode")))
    finally:
        await engine.dispose()


async def test_engines_opening_a_new_database_together_all_get_wal(tmp_path: Path) -> None:
    # SQLite refuses at once ("database is locked", no busy wait) one of two connections that
    # switch the same new file to WAL together; before the retry about 1 connect in 60 failed.
    for round_ in range(30):
        url = f"sqlite+aiosqlite:///{tmp_path}/new-{round_}.db"
        modes = await asyncio.gather(*(_journal_mode(url) for _ in range(8)))
        assert modes == ["wal"] * 8


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        create_engine("mysql+aiomysql://u@h/db")
