"""Routes: start a chunking operation on a collection, read and list operations, cancel one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, status

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.kit.deps import SessionDep, SettingsDep
from chunkyard.kit.errors import ERROR_RESPONSES
from chunkyard.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from chunkyard.operations import service
from chunkyard.operations.deps import JobQueueDep, ProgressBusDep
from chunkyard.operations.events import event_for
from chunkyard.operations.schemas import OperationCreate, OperationOut, OperationPage

router = APIRouter(tags=["operations"], responses=ERROR_RESPONSES)

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: ERROR_RESPONSES[400] | {"description": "An operation is already pending or running"},
    429: ERROR_RESPONSES[400] | {
        "description": "The user has the most operations pending or running at once "
        "(`Retry-After` says when to try again)"
    },
}


@router.post(
    "/collections/{collection_id}/operations",
    response_model=OperationOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_CONFLICT,
)
async def start_operation(
    collection_id: str,
    queue: JobQueueDep,
    background: BackgroundTasks,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    body: OperationCreate | None = None,
) -> OperationOut:
    """Chunk every (or the given) document; unchanged documents are skipped. Poll the result.
    A user has at most `CHUNKYARD_MAX_ACTIVE_OPERATIONS_PER_USER` pending or running: one
    more is refused with 429 at once."""
    operation = await service.create_operation(
        session, user, collection_id, body or OperationCreate(),
        max_active=settings.max_active_operations_per_user,
    )
    # Background tasks run after the session dependency has committed: enqueue after commit.
    background.add_task(queue.start, operation.id)
    return service.operation_out(operation)


@router.get("/collections/{collection_id}/operations", response_model=OperationPage)
async def list_operations(
    collection_id: str,
    session: SessionDep,
    user: CurrentUser,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> OperationPage:
    rows, next_cursor = await service.list_operations(
        session, user, collection_id, limit=limit, cursor=cursor
    )
    return OperationPage(items=[service.operation_out(o) for o in rows], next_cursor=next_cursor)


@router.get("/operations/{operation_id}", response_model=OperationOut)
async def get_operation(operation_id: str, session: SessionDep, user: CurrentUser) -> OperationOut:
    return service.operation_out(await service.get_operation(session, user, operation_id))


@router.post(
    "/operations/{operation_id}/cancel",
    response_model=OperationOut,
    responses={409: ERROR_RESPONSES[400] | {"description": "The operation already finished"}},
)
async def cancel_operation(
    operation_id: str,
    bus: ProgressBusDep,
    background: BackgroundTasks,
    session: SessionDep,
    user: CurrentUser,
) -> OperationOut:
    """Stop a pending or running operation (its job stops before its next document)."""
    operation = service.operation_out(await service.cancel_operation(session, user, operation_id))
    # Told after the commit, like a job's own progress: listeners never see an undone cancel.
    background.add_task(bus.publish, operation.id, event_for(operation))
    return operation
