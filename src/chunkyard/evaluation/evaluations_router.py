"""Routes: start an evaluation of a collection's questions (1-6 configurations scored by
retrieval), read and list evaluations, page through one's per-question scores. Progress and
cancel are its operation's: `/operations/{id}/ws`, `/operations/{id}/cancel`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, status

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.evaluation import evaluations as service
from chunkyard.evaluation.schemas import (
    EvaluationCreate,
    EvaluationOut,
    EvaluationPage,
    QuestionScorePage,
)
from chunkyard.kit.deps import SessionDep, SettingsDep
from chunkyard.kit.errors import ERROR_RESPONSES
from chunkyard.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from chunkyard.operations.deps import JobQueueDep

router = APIRouter(tags=["evaluation"], responses=ERROR_RESPONSES)

_LIMITED: dict[int | str, dict[str, Any]] = {
    429: ERROR_RESPONSES[400] | {
        "description": "The user has the most operations (evaluations included) pending or "
        "running at once (`Retry-After` says when to try again)"
    },
}


@router.post(
    "/collections/{collection_id}/evaluations",
    response_model=EvaluationOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_LIMITED,
)
async def start_evaluation(
    collection_id: str,
    body: EvaluationCreate,
    queue: JobQueueDep,
    background: BackgroundTasks,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> EvaluationOut:
    """Score each configuration by what it retrieves for the collection's questions: the
    documents the questions refer to are chunked with it (nothing is stored), chunks and
    questions embedded, the top `k` chunks retrieved per question and scored against its
    references (recall, precision, IoU). Poll it, or follow its operation's WebSocket."""
    operation = await service.create_evaluation(
        session, user, collection_id, body, max_active=settings.max_active_operations_per_user)
    # Enqueued after the session dependency commits, as a chunking operation is.
    background.add_task(queue.start, operation.id)
    return service.evaluation_out(operation, None)


@router.get("/collections/{collection_id}/evaluations", response_model=EvaluationPage)
async def list_evaluations(
    collection_id: str, session: SessionDep, user: CurrentUser,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> EvaluationPage:
    rows, next_cursor = await service.list_evaluations(
        session, user, collection_id, limit=limit, cursor=cursor)
    items = [service.evaluation_out(o, await service.result_of(session, o.id)) for o in rows]
    return EvaluationPage(items=items, next_cursor=next_cursor)


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationOut)
async def get_evaluation(evaluation_id: str, session: SessionDep, user: CurrentUser
                         ) -> EvaluationOut:
    operation = await service.get_evaluation(session, user, evaluation_id)
    return service.evaluation_out(operation, await service.result_of(session, operation.id))


@router.get("/evaluations/{evaluation_id}/questions", response_model=QuestionScorePage)
async def question_scores(
    evaluation_id: str, session: SessionDep, user: CurrentUser,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> QuestionScorePage:
    """Per question, in question order: its references, and per configuration its scores and
    the chunks it retrieved (empty until the evaluation completes)."""
    _, items, next_cursor = await service.question_scores(
        session, user, evaluation_id, limit=limit, cursor=cursor)
    return QuestionScorePage(items=items, next_cursor=next_cursor)
