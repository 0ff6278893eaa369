"""Evaluations: start one (an operation of kind `evaluation`), read, list, and page through its
per-question scores; and, for its job, the questions it scores and where the scores go.

An evaluation is an operation, so it shares the operations' queue, per-user limit
(`CHUNKYARD_MAX_ACTIVE_OPERATIONS_PER_USER`), progress events, WebSocket and cancel. It does
not take the collection's "one chunking operation at a time" turn: it stores no chunks.
Its inputs live in the operation's `config` (`configs`, `k`, `embedding_model`), its documents
in `document_ids` (every document a question of the collection refers to, when it starts), its
scores in `evaluation_results` once it completes (`results.py` says what they hold).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from chunkyard.auth.service import Principal
from chunkyard.chunking.service import validate_config
from chunkyard.embedding.available import local_model_problem
from chunkyard.evaluation.questions import owned_collection
from chunkyard.evaluation.results import ScoredQuestion, best
from chunkyard.evaluation.schemas import EvaluationCreate, EvaluationOut, QuestionScore
from chunkyard.kit.errors import Invalid, NotFound
from chunkyard.kit.ids import owned_row
from chunkyard.limits.quota import reserve_operation
from chunkyard.storage.models import (
    EvalQuestion,
    EvalReference,
    EvaluationResult,
    Operation,
    OperationKind,
    OperationStatus,
    utcnow,
)
from chunkyard.storage.repositories import Keyset
from chunkyard.storage.repositories.pages import InvalidCursor, decode_cursor, encode_cursor

_PAGES = Keyset("ev", (Operation.id,))
_QUESTION_CURSOR = "evq"


async def create_evaluation(
    session: AsyncSession, owner: Principal, collection_id: str, body: EvaluationCreate,
    *, max_active: int,
) -> Operation:
    """A pending evaluation of the collection's questions; 422 when a configuration or the
    embedding model cannot run, or the collection has no questions; 429 past the owner's
    limit of active operations (counted under the owner's lock, as chunking's are)."""
    collection = await owned_collection(session, owner, collection_id)
    configs = [validate_config(c.strategy, c.params, owner, field=f"configs[{i}]").to_dict()
               for i, c in enumerate(body.configs)]
    problem = local_model_problem(body.embedding_model)
    if problem is not None:
        detail = f" ({problem.detail})" if owner.is_admin else ""
        raise Invalid(f"embedding_model: {body.embedding_model} cannot run here: "
                      f"{problem.reason}{detail}", code="unavailable")
    documents = list((await session.scalars(
        select(EvalReference.document_id)
        .join(EvalQuestion, EvalQuestion.id == EvalReference.question_id)
        .where(EvalQuestion.collection_id == collection.id)
        .group_by(EvalReference.document_id)
        .order_by(EvalReference.document_id)
    )).all())
    if not documents:
        raise Invalid(
            f"collection {collection.id} has no evaluation questions: add questions with "
            "their references (POST /collections/{id}/questions, or a CSV import) first",
            code="no_questions")
    await reserve_operation(session, owner.id, max_active)
    operation = Operation(
        collection_id=collection.id,
        owner_id=owner.id,
        kind=OperationKind.EVALUATION,
        status=OperationStatus.PENDING,
        documents_total=len(documents) * len(configs),
        documents_done=0,
        documents_failed=0,
        chunks_created=0,
        config={"configs": configs, "k": body.k, "embedding_model": body.embedding_model},
        document_ids=[str(d) for d in documents],
        created_at=utcnow(),
    )
    session.add(operation)
    await session.flush()
    return operation


async def get_evaluation(session: AsyncSession, owner: Principal, evaluation_id: str
                         ) -> Operation:
    """The owner's evaluation, read afresh (its job updates it); NotFound otherwise, a
    chunking operation's id included."""
    operation = await owned_row(session, Operation, evaluation_id, owner.id,
                                what="evaluation", fresh=True)
    if operation.kind != OperationKind.EVALUATION:
        raise NotFound(f"evaluation {evaluation_id} not found", code="evaluation_not_found")
    return operation


async def list_evaluations(
    session: AsyncSession, owner: Principal, collection_id: str, *, limit: int,
    cursor: str | None,
) -> tuple[list[Operation], str | None]:
    """A collection's evaluations, oldest first, `limit` at a time."""
    collection = await owned_collection(session, owner, collection_id)
    page = await _PAGES.page(
        session, select(Operation).where(Operation.collection_id == collection.id,
                                         Operation.kind == OperationKind.EVALUATION),
        limit=limit, cursor=cursor,
    )
    return page.items, page.next_cursor


async def result_of(session: AsyncSession, operation_id: uuid.UUID) -> EvaluationResult | None:
    return await session.get(EvaluationResult, operation_id)


def evaluation_out(operation: Operation, result: EvaluationResult | None) -> EvaluationOut:
    inputs = operation.config
    summary = result.summary if result is not None else None
    return EvaluationOut.model_validate({
        "id": operation.id, "collection_id": operation.collection_id,
        "status": operation.status, "k": inputs.get("k", 5),
        "embedding_model": inputs.get("embedding_model", "static"),
        "configs": inputs.get("configs", []),
        "documents_total": operation.documents_total,
        "documents_done": operation.documents_done,
        "documents_failed": operation.documents_failed,
        "error": operation.error, "created_at": operation.created_at,
        "finished_at": operation.finished_at,
        "questions": result.question_count if result is not None else None,
        "results": summary,
        "best": best(summary) if summary is not None else None,
    })


async def question_scores(
    session: AsyncSession, owner: Principal, evaluation_id: str, *, limit: int,
    cursor: str | None,
) -> tuple[EvaluationOut, list[QuestionScore], str | None]:
    """A completed evaluation's per-question scores, in question order, `limit` at a time
    (empty until it completes)."""
    operation = await get_evaluation(session, owner, evaluation_id)
    result = await session.scalar(
        select(EvaluationResult).where(EvaluationResult.operation_id == operation.id)
        .options(undefer(EvaluationResult.questions)))
    stored: Sequence[dict[str, Any]] = result.questions if result is not None else []
    start = 0
    if cursor is not None:
        (position,) = decode_cursor(cursor, _QUESTION_CURSOR, 1)
        if not isinstance(position, int) or not 0 < position <= len(stored):
            raise InvalidCursor()
        start = position
    items = [QuestionScore.model_validate(q) for q in stored[start:start + limit]]
    end = start + len(items)
    next_cursor = encode_cursor(_QUESTION_CURSOR, end) if end < len(stored) else None
    return evaluation_out(operation, result), items, next_cursor


# -- for the job ----------------------------------------------------------------------------


async def questions_to_score(
    session: AsyncSession, collection_id: uuid.UUID | None, documents: Sequence[uuid.UUID]
) -> list[ScoredQuestion]:
    """The collection's questions as the job scores them, in id order: those whose every
    reference lies in one of `documents` (a question added later, about a document the
    evaluation did not chunk, waits for the next evaluation)."""
    if collection_id is None:
        return []
    evaluated = set(documents)
    rows = (await session.scalars(
        select(EvalQuestion).where(EvalQuestion.collection_id == collection_id)
        .order_by(EvalQuestion.id)
    )).all()
    return [
        ScoredQuestion(str(q.id), q.question, tuple(
            (str(r.document_id), r.start_offset, r.end_offset) for r in q.references))
        for q in rows
        if q.references and all(r.document_id in evaluated for r in q.references)
    ]


async def store_results(
    session: AsyncSession, operation_id: uuid.UUID, summary: list[dict[str, Any]],
    questions: list[dict[str, Any]],
) -> None:
    """Keep a completed evaluation's scores, in the caller's transaction."""
    session.add(EvaluationResult(operation_id=operation_id, summary=summary,
                                 question_count=len(questions), questions=questions,
                                 created_at=utcnow()))
    await session.flush()

