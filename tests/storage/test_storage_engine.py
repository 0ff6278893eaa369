"""The engine: SQLite pragmas (WAL, foreign keys, busy timeout), supported URLs."""

from __future__ import annotations

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


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        create_engine("mysql+aiomysql://u@h/db")
