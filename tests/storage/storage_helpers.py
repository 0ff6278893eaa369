"""Factories and helpers shared by the storage tests (plain functions, no fixture webs)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chunkyard.core.types import Chunk as CoreChunk
from chunkyard.settings import Settings
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import Collection, Document, Operation, User

CONFIG = {"strategy": "recursive", "params": {"chunk_size": 128, "chunk_overlap": 0}}


@asynccontextmanager
async def open_db(
    settings: Settings, **engine_kwargs: Any
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    engine = create_engine(settings, **engine_kwargs)
    try:
        yield engine, create_session_factory(engine)
    finally:
        await engine.dispose()


async def create_user(session: AsyncSession, username: str | None = None) -> User:
    user = User(username=username or f"user-{secrets.token_hex(6)}", password_hash="x")
    session.add(user)
    await session.flush()
    return user


async def create_collection(
    session: AsyncSession, owner: User | None = None, name: str | None = None
) -> Collection:
    owner = owner or await create_user(session)
    collection = Collection(
        owner_id=owner.id, name=name or f"collection-{secrets.token_hex(6)}", config=CONFIG
    )
    session.add(collection)
    await session.flush()
    return collection


async def create_document(
    session: AsyncSession, collection: Collection, filename: str = "doc.md", **kwargs: Any
) -> Document:
    document = Document(
        collection_id=collection.id,
        filename=filename,
        size_bytes=kwargs.pop("size_bytes", 123),
        content_sha256=kwargs.pop("content_sha256", "a" * 64),
        **kwargs,
    )
    session.add(document)
    await session.flush()
    return document


async def create_operation(session: AsyncSession, collection: Collection) -> Operation:
    operation = Operation(collection_id=collection.id, owner_id=collection.owner_id, config=CONFIG)
    session.add(operation)
    await session.flush()
    return operation


def make_chunks(count: int, label: str = "chunk", *, width: int = 40) -> list[CoreChunk]:
    """`count` chunks of a made-up text, with offsets that index it."""
    chunks = []
    offset = 0
    for i in range(count):
        text = f"{label} {i} " + "é" * (width - len(f"{label} {i} "))
        chunks.append(
            CoreChunk(
                index=i,
                text=text,
                start=offset,
                end=offset + len(text),
                tokens=len(text) // 4 + 1,
                metadata={"strategy": "recursive", "headings": ["Intro", f"Part {i}"]},
            )
        )
        offset += len(text)
    return chunks


def ids(items: list[Any]) -> list[UUID]:
    return [item.id for item in items]
