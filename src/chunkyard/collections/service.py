"""Collections: create, list, read, update and delete a user's collections; check configurations.

Every query is scoped by owner, so another user's collection is simply not found (404).
Services only flush; the request commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth.service import Principal
from chunkyard.chunking.schemas import ChunkConfig
from chunkyard.chunking.service import validate_config
from chunkyard.collections.schemas import CollectionOut, LastOperation
from chunkyard.documents.provenance import CollectionProvenance, collection_provenance
from chunkyard.kit.errors import Conflict
from chunkyard.kit.ids import owned_row
from chunkyard.storage.models import Collection, Operation, OperationKind
from chunkyard.storage.repositories import Keyset
from chunkyard.storage.repositories import delete_collection as storage_delete_collection

_PAGES = Keyset("col", (Collection.id,))


async def get_collection(
    session: AsyncSession, owner: Principal, collection_id: str
) -> Collection:
    """The owner's collection; NotFound for a missing one, a malformed id or someone else's."""
    return await owned_row(session, Collection, collection_id, owner.id, what="collection")


async def _last_operations(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, LastOperation]:
    """The newest chunking operation of each collection in `ids` (ids are time-ordered; an
    evaluation changes no chunk, so it is not the collection's last run), in one query: per
    collection, one walk back along the (collection_id, id) index."""
    if not ids:
        return {}
    newest = (
        select(Operation.id)
        .where(Operation.collection_id == Collection.id,
               Operation.kind == OperationKind.CHUNKING)
        .order_by(Operation.id.desc())
        .limit(1)
        .correlate(Collection)
        .scalar_subquery()
    )
    newest_ids = select(newest).select_from(Collection).where(Collection.id.in_(ids))
    rows = await session.execute(
        select(
            Operation.collection_id,
            Operation.id,
            Operation.status,
            Operation.documents_done,
            Operation.documents_total,
            Operation.finished_at,
        ).where(Operation.id.in_(newest_ids))
    )
    return {row.collection_id: LastOperation.model_validate(row) for row in rows}


def _out(
    collection: Collection, counts: CollectionProvenance, last: LastOperation | None
) -> CollectionOut:
    return CollectionOut(
        id=collection.id,
        name=collection.name,
        config=ChunkConfig.model_validate(collection.config),
        document_count=counts.documents,
        chunk_count=counts.chunks,
        stale_documents=counts.stale,
        other_config_documents=counts.other_config,
        created_at=collection.created_at,
        last_operation=last,
    )


async def describe_many(
    session: AsyncSession, collections: list[Collection]
) -> list[CollectionOut]:
    """The bodies of `collections`: two queries however many there are (counts and
    provenance, newest operations)."""
    ids = [c.id for c in collections]
    counts = await collection_provenance(session, {c.id: c.config for c in collections})
    last = await _last_operations(session, ids)
    return [_out(c, counts.get(c.id, CollectionProvenance()), last.get(c.id))
            for c in collections]


async def describe(session: AsyncSession, collection: Collection) -> CollectionOut:
    (out,) = await describe_many(session, [collection])
    return out


async def list_collections(
    session: AsyncSession, owner: Principal, *, limit: int, cursor: str | None
) -> tuple[list[CollectionOut], str | None]:
    """The owner's collections, oldest first (ids are time-ordered), `limit` at a time."""
    page = await _PAGES.page(
        session, select(Collection).where(Collection.owner_id == owner.id),
        limit=limit, cursor=cursor,
    )
    return await describe_many(session, page.items), page.next_cursor


async def _name_taken(
    session: AsyncSession, owner: Principal, name: str, *, besides: uuid.UUID | None = None
) -> bool:
    stmt = select(Collection.id).where(Collection.owner_id == owner.id, Collection.name == name)
    if besides is not None:
        stmt = stmt.where(Collection.id != besides)
    return (await session.scalar(stmt.limit(1))) is not None


def _exists(name: str) -> Conflict:
    return Conflict(f"name: you already have a collection named {name!r}",
                    code="collection_exists")


async def _flush(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError:  # the unique (owner, name) constraint, lost a race
        raise _exists(name) from None


async def create_collection(
    session: AsyncSession, owner: Principal, name: str, config: ChunkConfig
) -> Collection:
    valid = validate_config(config.strategy, config.params, owner)
    if await _name_taken(session, owner, name):
        raise _exists(name)
    collection = Collection(owner_id=owner.id, name=name, config=valid.to_dict())
    session.add(collection)
    await _flush(session, name)
    return collection


async def update_collection(
    session: AsyncSession,
    owner: Principal,
    collection_id: str,
    *,
    name: str | None,
    config: ChunkConfig | None,
) -> Collection:
    collection = await get_collection(session, owner, collection_id)
    if config is not None:
        collection.config = validate_config(config.strategy, config.params, owner).to_dict()
    if name is not None and name != collection.name:
        if await _name_taken(session, owner, name, besides=collection.id):
            raise _exists(name)
        collection.name = name
    await _flush(session, collection.name)
    return collection


async def delete_collection(session: AsyncSession, owner: Principal, collection_id: str) -> None:
    collection = await get_collection(session, owner, collection_id)
    await storage_delete_collection(session, collection.id)
