"""Operations: create (one pending or running operation per collection), read, list, cancel.

Every query is scoped by the owner, so another user's operation or collection is simply not
found (404). Services only flush; the request commits, and the router starts the job only
after that commit (a job never looks for a row that is not there yet).

Unknown document ids in `document_ids` (missing, malformed, another collection's or another
user's) answer 404 `document_not_found`, the same as `GET /documents/{id}` would.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth.service import Principal
from chunkyard.chunking.service import validate_config
from chunkyard.collections.service import get_collection
from chunkyard.kit.errors import Conflict, NotFound
from chunkyard.kit.ids import owned_row
from chunkyard.limits.quota import reserve_operation
from chunkyard.operations.schemas import OperationCreate, OperationOut
from chunkyard.storage.models import (
    Collection,
    Document,
    Operation,
    OperationKind,
    OperationStatus,
    utcnow,
)
from chunkyard.storage.repositories import Keyset

ACTIVE = (OperationStatus.PENDING, OperationStatus.RUNNING)
_PAGES = Keyset("op", (Operation.id,))


def operation_out(operation: Operation) -> OperationOut:
    return OperationOut.model_validate(operation)


async def get_operation(session: AsyncSession, owner: Principal, operation_id: str) -> Operation:
    """The owner's operation; NotFound for a missing one, a malformed id or someone else's.
    Read afresh: jobs update it while the session may hold an older copy."""
    return await owned_row(
        session, Operation, operation_id, owner.id, what="operation", fresh=True
    )


async def create_operation(
    session: AsyncSession, owner: Principal, collection_id: str, body: OperationCreate,
    *, max_active: int,
) -> Operation:
    """A pending operation over the collection's (or the given) documents; 429 when the
    owner already has `max_active` pending or running (counted under the owner's lock, held
    until this transaction ends, so concurrent starts cannot both pass)."""
    collection = await get_collection(session, owner, collection_id)
    # The owner's lock first, then the collection's (always in this order).
    await reserve_operation(session, owner.id, max_active)
    # Serialises concurrent starts on one collection (PostgreSQL; SQLite writers already hold
    # the database's write lock), so the "one active operation" check below cannot race.
    await session.execute(
        select(Collection.id).where(Collection.id == collection.id).with_for_update()
    )
    if body.config is not None:
        config = validate_config(body.config.strategy, body.config.params, owner).to_dict()
    else:
        config = dict(collection.config)
    active = await session.scalar(
        select(Operation.id)
        .where(Operation.collection_id == collection.id, Operation.status.in_(ACTIVE),
               Operation.kind == OperationKind.CHUNKING)
        .limit(1)
    )
    if active is not None:
        raise Conflict(
            f"collection {collection.id} already has operation {active} pending or running",
            code="operation_in_progress",
        )
    document_ids: list[str] | None = None
    if body.document_ids is not None:
        wanted = list(dict.fromkeys(body.document_ids))  # de-duplicated, order kept
        found = set(
            (
                await session.scalars(
                    select(Document.id).where(
                        Document.collection_id == collection.id, Document.id.in_(wanted)
                    )
                )
            ).all()
        )
        missing = [d for d in wanted if d not in found]
        if missing:
            raise NotFound(
                f"document_ids: document {missing[0]} not found in collection {collection.id}",
                code="document_not_found",
            )
        document_ids = [str(d) for d in wanted]
        total = len(wanted)
    else:
        total = int(
            await session.scalar(
                select(func.count())
                .select_from(Document)
                .where(Document.collection_id == collection.id)
            )
            or 0
        )
    operation = Operation(
        collection_id=collection.id,
        owner_id=owner.id,
        status=OperationStatus.PENDING,
        documents_total=total,
        documents_done=0,
        documents_failed=0,
        chunks_created=0,
        config=config,
        document_ids=document_ids,
        created_at=utcnow(),
    )
    session.add(operation)
    await session.flush()
    return operation


async def list_operations(
    session: AsyncSession, owner: Principal, collection_id: str, *, limit: int,
    cursor: str | None,
) -> tuple[list[Operation], str | None]:
    """A collection's operations, oldest first (ids are time-ordered), `limit` at a time."""
    collection = await get_collection(session, owner, collection_id)
    page = await _PAGES.page(
        session, select(Operation).where(Operation.collection_id == collection.id),
        limit=limit, cursor=cursor,
    )
    return page.items, page.next_cursor


async def cancel_operation(
    session: AsyncSession, owner: Principal, operation_id: str
) -> Operation:
    """Mark a pending or running operation cancelled; its job sees that between documents."""
    operation = await get_operation(session, owner, operation_id)
    # Conditional: if the job finished in the meantime, its final status stands (409).
    result = await session.execute(
        update(Operation)
        .where(Operation.id == operation.id, Operation.status.in_(ACTIVE))
        .values(status=OperationStatus.CANCELLED, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        await session.refresh(operation)
        raise Conflict(
            f"operation {operation.id} is already {operation.status}",
            code="operation_finished",
        )
    await session.refresh(operation)
    return operation
