"""Diff before re-chunking: what a run with a configuration would keep, add and remove.

Each document is chunked in the app's chunking processes (`pool.py`, under the memory cap)
by the code a job runs (`documents.chunking.chunk_document` after `stored.load_document`),
and its chunks get the stable ids a job would store (`core/stable_ids.py`); only the ids and
token counts come back. Against the document's stored chunks: kept = an id present in both,
added = new ids, removed = stored ids that would go, tokens_to_embed = the tokens of the
added chunks (what a vector store upserted by id must embed). Nothing is stored. A document
that cannot be chunked (unreadable, over a bound, over the memory cap) fails alone with its
reason; the totals are over the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.core.stable_ids import stable_chunk_ids
from chunkyard.documents.chunking import chunk_document
from chunkyard.documents.stored import StoredFile, load_document
from chunkyard.kit.errors import Invalid, NotFound, ServiceError, Unavailable
from chunkyard.storage.models import Collection, Document

T = TypeVar("T")

# The most documents one diff chunks (each as a preview would): more are refused with a
# sentence saying to name some with `document_ids`.
MAX_DIFF_DOCUMENTS = 100


class ChunkingProcesses(Protocol):
    """What a diff needs of the app's chunking pool (`pool.ChunkingPool`)."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T: ...


# The most added chunks and removed ids one document's `changes` lists.
MAX_LISTED_CHANGES = 1000


@dataclass(frozen=True, slots=True)
class NewChunk:
    """A chunk the new chunking makes: its stable id, tokens and place (offsets index the
    document's extracted text, as stored chunks' do)."""

    id: str
    tokens: int
    index: int
    start: int
    end: int


def new_chunk_ids(
    source: StoredFile, config: dict[str, Any], config_hash: str
) -> list[NewChunk]:
    """Blocking (in a chunking process): the document chunked as a job would chunk it, each
    chunk as its stable id, tokens and place (no text comes back)."""
    chunks = chunk_document(load_document(source), config)
    ids = stable_chunk_ids(source.id, config_hash, [c.text for c in chunks])
    return [NewChunk(i, c.tokens, c.index, c.start, c.end)
            for i, c in zip(ids, chunks, strict=True)]


@dataclass(frozen=True, slots=True)
class Counts:
    kept: int = 0
    added: int = 0
    removed: int = 0
    tokens_to_embed: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.kept + other.kept, self.added + other.added,
                      self.removed + other.removed,
                      self.tokens_to_embed + other.tokens_to_embed)


@dataclass(frozen=True, slots=True)
class Changes:
    """Which chunks a re-chunk adds (in order) and which stored ids it removes (in stored
    order), each list cut at `MAX_LISTED_CHANGES` (`truncated` says so)."""

    added: list[NewChunk]
    removed: list[str]
    truncated: bool


def compare_ids(
    stored: Sequence[tuple[str, int]], new: Sequence[NewChunk]
) -> tuple[Counts, Changes]:
    """Kept, added and removed ids, the tokens of the added chunks, and which they are."""
    before = {i for i, _ in stored}
    after = {c.id for c in new}
    added = [c for c in new if c.id not in before]
    removed = [i for i, _ in stored if i not in after]
    counts = Counts(kept=len(after & before), added=len(added), removed=len(removed),
                    tokens_to_embed=sum(c.tokens for c in added))
    limit = MAX_LISTED_CHANGES
    return counts, Changes(added[:limit], removed[:limit],
                           len(added) > limit or len(removed) > limit)


@dataclass(frozen=True, slots=True)
class DocumentDiff:
    document: Document
    counts: Counts | None  # None: it failed
    error: str | None = None
    changes: Changes | None = None


async def diff_documents(
    session: AsyncSession,
    collection: Collection,
    document_ids: Sequence[uuid.UUID] | None,
) -> list[Document]:
    """The documents to diff: the given ones (each in the collection, else 404) or all of
    the collection's, in upload order; more than `MAX_DIFF_DOCUMENTS` is a 422."""
    stmt = select(Document).where(Document.collection_id == collection.id)
    if document_ids is not None:
        wanted = list(dict.fromkeys(document_ids))
        if len(wanted) > MAX_DIFF_DOCUMENTS:
            raise Invalid(f"document_ids: {len(wanted)} documents is more than the "
                          f"{MAX_DIFF_DOCUMENTS} a diff takes at a time", code="too_many_documents")
        found = {d.id: d for d in await session.scalars(stmt.where(Document.id.in_(wanted)))}
        missing = [d for d in wanted if d not in found]
        if missing:
            raise NotFound(
                f"document_ids: document {missing[0]} not found in collection {collection.id}",
                code="document_not_found",
            )
        return [found[d] for d in wanted]
    documents = list(await session.scalars(
        stmt.order_by(Document.id).limit(MAX_DIFF_DOCUMENTS + 1)))
    if len(documents) > MAX_DIFF_DOCUMENTS:
        raise Invalid(f"the collection has more than the {MAX_DIFF_DOCUMENTS} documents a diff "
                      "takes at a time; name the ones to compare in document_ids",
                      code="too_many_documents")
    return documents


async def diff_one(
    pool: ChunkingProcesses,
    stored: list[tuple[str, int]],
    document: Document,
    source: StoredFile,
    config: dict[str, Any],
    config_hash: str,
) -> DocumentDiff:
    """One document's diff; a failure of its own (a domain error: unreadable, over a bound,
    over the memory cap, a configuration that fails on its text) is its `error`."""
    try:
        new = await pool.run(new_chunk_ids, source, config, config_hash)
    except Unavailable:
        raise  # the chunking processes' trouble, not the document's: the request's 503
    except ServiceError as exc:
        return DocumentDiff(document, None, _without_id(exc.detail, document))
    except ValueError as exc:  # a ChunkingError raised by the strategy on this text
        return DocumentDiff(document, None, str(exc))
    counts, changes = compare_ids(stored, new)
    return DocumentDiff(document, counts, changes=changes)


def _without_id(detail: str, document: Document) -> str:
    """The reason without the "document <id>: " it starts with (the entry names it)."""
    prefix = f"document {document.id}: "
    return detail[len(prefix):] if detail.startswith(prefix) else detail

