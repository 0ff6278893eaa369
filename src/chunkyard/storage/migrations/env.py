"""Alembic environment: migrates the connection `chunkyard.storage.migrate` hands over.

Run through `chunkyard.storage.migrate` (or `chunkyard db upgrade`), which owns the
transaction of each step and checks the data around it. Used directly by the `alembic`
command (for `alembic revision --autogenerate` while developing), it connects to the database
of the settings (`CHUNKYARD_DATABASE_URL`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection

from chunkyard.settings import get_settings
from chunkyard.storage.engine import create_engine
from chunkyard.storage.migrate import include_object
from chunkyard.storage.models import Base

config = context.config


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        include_object=include_object,
        compare_type=True,
        render_as_batch=True,  # SQLite needs batch mode for most ALTERs
        **kwargs,
    )


def _run(connection: Connection) -> None:
    _configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    engine = create_engine(get_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(
        url=config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_from_settings())
