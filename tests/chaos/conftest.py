"""Chaos fixtures: a PostgreSQL cluster and a Redis server of each test's own, stopped and
removed after the test whatever happened in it (a test may have killed either)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos_support import PostgresCluster, RedisServer


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    made = PostgresCluster()
    try:
        made.start()
        yield made
    finally:
        made.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    try:
        server.start()
        yield server
    finally:
        server.stop()
