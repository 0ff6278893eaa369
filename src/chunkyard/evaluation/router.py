"""Routes: a collection's evaluation questions (CRUD, keyset-paginated, owner-only) and their
CSV import and export in the shared evaluation set's format."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status

from chunkyard.auth.dependencies import CurrentUser
from chunkyard.chunking.deps import ChunkingPoolDep
from chunkyard.evaluation import questions as service
from chunkyard.evaluation import questions_csv
from chunkyard.evaluation.schemas import (
    QuestionCreate,
    QuestionImport,
    QuestionOut,
    QuestionPage,
    QuestionUpdate,
)
from chunkyard.evaluation.texts import text_reader
from chunkyard.kit.deps import SessionDep, SessionFactoryDep, SettingsDep, transaction
from chunkyard.kit.errors import ERROR_RESPONSES, Invalid, PayloadTooLarge
from chunkyard.kit.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery

router = APIRouter(tags=["evaluation"], responses=ERROR_RESPONSES)

# An evaluation set's CSV (the shared one of 276 questions is 170 KB).
MAX_CSV_BYTES = 5 * 1024 * 1024


@router.get("/collections/{collection_id}/questions", response_model=QuestionPage)
async def list_questions(
    collection_id: str, session: SessionDep, user: CurrentUser,
    limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None,
) -> QuestionPage:
    items, next_cursor = await service.list_questions(
        session, user, collection_id, limit=limit, cursor=cursor)
    return QuestionPage(items=items, next_cursor=next_cursor)


@router.post("/collections/{collection_id}/questions", response_model=QuestionOut,
             status_code=status.HTTP_201_CREATED)
async def create_question(
    collection_id: str, body: QuestionCreate, user: CurrentUser, factory: SessionFactoryDep,
    settings: SettingsDep, pool: ChunkingPoolDep,
) -> QuestionOut:
    """A question and the excerpts that answer it; each reference must lie in the extracted
    text of a document of this collection."""
    ids = [r.document_id for r in body.references]
    # The texts are read with no transaction open; the write then checks the collection again.
    async with factory() as session:
        collection = await service.owned_collection(session, user, collection_id)
        documents = await service.documents_of(session, collection.id, ids)
    texts = await service.texts_of(documents, text_reader(pool, settings))
    service.check_references(body.references, {d.id: d for d in documents}, texts)
    async with transaction(factory, write=True) as session:
        collection = await service.owned_collection(session, user, collection_id)
        question = await service.add_question(session, collection, body.question,
                                              body.references)
        return service.question_out(question)


@router.get("/questions/{question_id}", response_model=QuestionOut)
async def get_question(question_id: str, session: SessionDep, user: CurrentUser) -> QuestionOut:
    return service.question_out(await service.get_question(session, user, question_id))


@router.patch("/questions/{question_id}", response_model=QuestionOut)
async def update_question(
    question_id: str, body: QuestionUpdate, user: CurrentUser, factory: SessionFactoryDep,
    settings: SettingsDep, pool: ChunkingPoolDep,
) -> QuestionOut:
    if body.references is not None:
        async with factory() as session:
            question = await service.get_question(session, user, question_id)
            documents = await service.documents_of(
                session, question.collection_id, [r.document_id for r in body.references])
        texts = await service.texts_of(documents, text_reader(pool, settings))
        service.check_references(body.references, {d.id: d for d in documents}, texts)
    async with transaction(factory, write=True) as session:
        question = await service.get_question(session, user, question_id)
        await service.update_question(session, question, text=body.question,
                                      references=body.references)
        return service.question_out(question)


@router.delete("/questions/{question_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_question(question_id: str, session: SessionDep, user: CurrentUser) -> Response:
    await session.delete(await service.get_question(session, user, question_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/collections/{collection_id}/questions/import", response_model=QuestionImport,
             responses={413: ERROR_RESPONSES[400] | {"description": "The file is too large"}})
async def import_questions(
    collection_id: str,
    file: Annotated[UploadFile, File(description="A CSV file with the columns question, "
                                                 "references and corpus_id.")],
    user: CurrentUser, factory: SessionFactoryDep, settings: SettingsDep,
    pool: ChunkingPoolDep,
) -> QuestionImport:
    """Adds the file's questions, all or none: `corpus_id` names a document of this collection
    (its file name, the name without its extension, or its id), and a reference's `content`,
    when given, must be the text at its offsets."""
    async with factory() as session:  # someone else's collection is 404 whatever the file
        collection = await service.owned_collection(session, user, collection_id)
        names = service.CorpusNames(tuple(await service.documents_of(session, collection.id)))
    raw = await file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"the CSV file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the CSV file is not UTF-8 text", code="invalid_csv") from None
    try:
        rows = questions_csv.parse(text)
    except questions_csv.CsvProblems as exc:
        raise Invalid(str(exc), code="invalid_csv") from None
    matched = service.match_csv(rows, names)
    needed = list({document.id: document for _, document in matched}.values())
    texts = await service.texts_of(needed, text_reader(pool, settings))
    checked = service.checked_csv_references(matched, texts)
    async with transaction(factory, write=True) as session:
        collection = await service.owned_collection(session, user, collection_id)
        await service.import_rows(session, collection, checked)
        total = await service.count_questions(session, collection.id)
    return QuestionImport(imported=len(checked), questions=total)


@router.get("/collections/{collection_id}/questions/export",
            responses={200: {"content": {"text/csv": {}},
                             "description": "The questions as CSV"}})
async def export_questions(
    collection_id: str, user: CurrentUser, factory: SessionFactoryDep, settings: SettingsDep,
    pool: ChunkingPoolDep,
) -> Response:
    """The collection's questions in the import's CSV format (each reference with its text)."""
    async with factory() as session:
        collection = await service.owned_collection(session, user, collection_id)
        questions = await service.all_questions(session, collection.id)
        documents = await service.documents_of(session, collection.id)
    names = service.CorpusNames(tuple(documents))
    used = {r.document_id for q in questions for r in q.references}
    texts = await service.texts_of([d for d in documents if d.id in used],
                                   text_reader(pool, settings))
    body = service.export_csv(questions, names, texts)
    filename = f"questions-{collection.id}.csv"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
