"""A collection's evaluation questions: create, list, read, update, delete, and CSV import and
export (`questions_csv.py`), all scoped by the collection's owner (someone else's is 404).

A reference must lie inside its document's extracted text, which only extraction tells:
callers read the texts they need first, without holding a database session (`TextReader`),
then write in a short transaction of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth.service import Principal
from chunkyard.evaluation import questions_csv
from chunkyard.evaluation.schemas import QuestionOut, Reference
from chunkyard.kit.errors import Invalid
from chunkyard.kit.ids import owned_row
from chunkyard.storage.models import (
    Collection,
    Document,
    EvalQuestion,
    EvalReference,
    utcnow,
)
from chunkyard.storage.repositories import Keyset

# One collection's set: enough for any evaluation a person curates, bounded for the job.
MAX_QUESTIONS_PER_COLLECTION = 10_000

_PAGES = Keyset("q", (EvalQuestion.id,))

# The extracted text of a document of the collection (blocking work done elsewhere).
TextReader = Callable[[Document], Awaitable[str]]


def question_out(question: EvalQuestion) -> QuestionOut:
    return QuestionOut(
        id=question.id,
        collection_id=question.collection_id,
        question=question.question,
        references=[Reference(document_id=r.document_id, start=r.start_offset, end=r.end_offset)
                    for r in question.references],
        created_at=question.created_at,
        updated_at=question.updated_at,
    )


async def owned_collection(
    session: AsyncSession, owner: Principal, collection_id: str
) -> Collection:
    return await owned_row(session, Collection, collection_id, owner.id, what="collection")


async def get_question(session: AsyncSession, owner: Principal, question_id: str) -> EvalQuestion:
    return await owned_row(session, EvalQuestion, question_id, owner.id, what="question",
                           via=EvalQuestion.collection)


async def list_questions(
    session: AsyncSession, owner: Principal, collection_id: str, *, limit: int,
    cursor: str | None,
) -> tuple[list[QuestionOut], str | None]:
    """The collection's questions, oldest first, `limit` at a time."""
    collection = await owned_collection(session, owner, collection_id)
    page = await _PAGES.page(
        session, select(EvalQuestion).where(EvalQuestion.collection_id == collection.id),
        limit=limit, cursor=cursor,
    )
    return [question_out(q) for q in page.items], page.next_cursor


async def count_questions(session: AsyncSession, collection_id: uuid.UUID) -> int:
    return int(await session.scalar(
        select(func.count()).where(EvalQuestion.collection_id == collection_id)) or 0)


async def documents_of(
    session: AsyncSession, collection_id: uuid.UUID, ids: Sequence[uuid.UUID] | None = None
) -> list[Document]:
    """The collection's documents (those of `ids` only, when given)."""
    stmt = select(Document).where(Document.collection_id == collection_id)
    if ids is not None:
        stmt = stmt.where(Document.id.in_(set(ids)))
    return list((await session.scalars(stmt.order_by(Document.id))).all())


async def texts_of(documents: Sequence[Document], read: TextReader) -> dict[uuid.UUID, str]:
    return {document.id: await read(document) for document in documents}


def check_references(
    references: Sequence[Reference], documents: dict[uuid.UUID, Document],
    texts: dict[uuid.UUID, str],
) -> None:
    """Invalid unless every reference is in a document of the collection, inside its text."""
    for number, reference in enumerate(references, 1):
        document = documents.get(reference.document_id)
        if document is None:
            raise Invalid(f"reference {number} points into a document that is not in this "
                          f"collection ({reference.document_id})", code="invalid_reference")
        length = len(texts[document.id])
        if reference.end > length:
            raise Invalid(
                f"reference {number} ends at character {reference.end}, past the end of "
                f"{document.filename} ({length} characters of extracted text)",
                code="invalid_reference",
            )


def _set_references(question: EvalQuestion, references: Sequence[Reference]) -> None:
    question.references = [
        EvalReference(position=n, document_id=r.document_id, start_offset=r.start,
                      end_offset=r.end)
        for n, r in enumerate(references)
    ]


async def _room_for(session: AsyncSession, collection_id: uuid.UUID, adding: int) -> None:
    have = await count_questions(session, collection_id)
    if have + adding > MAX_QUESTIONS_PER_COLLECTION:
        raise Invalid(
            f"a collection holds at most {MAX_QUESTIONS_PER_COLLECTION} questions; this one "
            f"has {have}, and {adding} more would pass that",
            code="too_many_questions",
        )


async def add_question(
    session: AsyncSession, collection: Collection, question: str,
    references: Sequence[Reference],
) -> EvalQuestion:
    """Adds a question whose references were checked (`check_references`)."""
    await _room_for(session, collection.id, 1)
    row = EvalQuestion(collection_id=collection.id, question=question)
    _set_references(row, references)
    session.add(row)
    await session.flush()
    return row


async def update_question(
    session: AsyncSession, question: EvalQuestion, *, text: str | None,
    references: Sequence[Reference] | None,
) -> None:
    """Changes the text and/or replaces the references (checked by `check_references`)."""
    if text is not None:
        question.question = text
    if references is not None:
        # The old rows go first: the new ones reuse their (question, position) keys.
        question.references.clear()
        await session.flush()
        _set_references(question, references)
    question.updated_at = utcnow()
    await session.flush()


# -- CSV ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CorpusNames:
    """Which document a CSV `corpus_id` names: its id, its file name, or its file name without
    the extension (the shared set's `state_of_the_union` for `state_of_the_union.md`); a name
    two documents share names neither."""

    documents: tuple[Document, ...]

    def resolve(self, corpus_id: str) -> Document | None:
        for key in (lambda d: str(d.id), lambda d: d.filename,
                    lambda d: PurePosixPath(d.filename).stem):
            found = [d for d in self.documents if key(d) == corpus_id]
            if found:
                return found[0] if len(found) == 1 else None
        return None

    def name_of(self, document: Document) -> str:
        """The shortest name that `resolve` reads back as `document`."""
        for name in (PurePosixPath(document.filename).stem, document.filename):
            if self.resolve(name) is document:
                return name
        return str(document.id)


def match_csv(
    rows: Sequence[questions_csv.CsvQuestion], names: CorpusNames,
) -> list[tuple[questions_csv.CsvQuestion, Document]]:
    """Each row with the document its corpus_id names; Invalid naming every row that names
    none."""
    matched, problems = [], []
    for row in rows:
        document = names.resolve(row.corpus_id)
        if document is None:
            problems.append(f"row {row.row}: corpus_id {row.corpus_id!r} names no document of "
                            "this collection (use a document's file name, the name without "
                            "its extension, or its id)")
        else:
            matched.append((row, document))
    if problems:
        raise Invalid(str(questions_csv.CsvProblems(problems)), code="invalid_csv")
    return matched


def checked_csv_references(
    matched: Sequence[tuple[questions_csv.CsvQuestion, Document]], texts: dict[uuid.UUID, str],
) -> list[tuple[str, list[Reference]]]:
    """The rows as (question, references); Invalid naming every reference past its text's end
    or whose content is not the text at its offsets."""
    out, problems = [], []
    for row, document in matched:
        text = texts[document.id]
        references = []
        for number, ref in enumerate(row.references, 1):
            if ref.end > len(text):
                problems.append(f"row {row.row}: reference {number} ends at {ref.end}, past the "
                                f"end of {document.filename} ({len(text)} characters)")
            elif ref.content is not None and text[ref.start:ref.end] != ref.content:
                problems.append(f"row {row.row}: reference {number}'s content is not the text "
                                f"of {document.filename} at {ref.start}-{ref.end}")
            references.append(Reference(document_id=document.id, start=ref.start, end=ref.end))
        out.append((row.question, references))
    if problems:
        raise Invalid(str(questions_csv.CsvProblems(problems)), code="invalid_csv")
    return out


async def import_rows(
    session: AsyncSession, collection: Collection, rows: Sequence[tuple[str, list[Reference]]]
) -> None:
    """Adds every row (the caller's transaction makes it all or nothing)."""
    await _room_for(session, collection.id, len(rows))
    for question, references in rows:
        row = EvalQuestion(collection_id=collection.id, question=question)
        _set_references(row, references)
        session.add(row)
    await session.flush()


async def all_questions(session: AsyncSession, collection_id: uuid.UUID) -> list[EvalQuestion]:
    stmt = (select(EvalQuestion).where(EvalQuestion.collection_id == collection_id)
            .order_by(EvalQuestion.id))
    return list((await session.scalars(stmt)).all())


def export_csv(
    questions: Sequence[EvalQuestion], names: CorpusNames, texts: dict[uuid.UUID, str],
) -> str:
    """The questions as CSV; a question whose references span several documents is one row
    per document (the format names one corpus per row)."""
    by_id = {d.id: d for d in names.documents}
    rows: list[tuple[str, str, list[tuple[int, int, str]]]] = []
    for question in questions:
        per_document: dict[uuid.UUID, list[tuple[int, int, str]]] = {}
        for r in question.references:
            text = texts[r.document_id]
            per_document.setdefault(r.document_id, []).append(
                (r.start_offset, r.end_offset, text[r.start_offset:r.end_offset]))
        for document_id, refs in per_document.items():
            rows.append((question.question, names.name_of(by_id[document_id]), refs))
    return questions_csv.write(rows)
