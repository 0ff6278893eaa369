"""Chunk listings with filters: text, document, token range and heading, still keyset pages.

The filters narrow the listings of `chunks.py` (same order, same keys, same index walk), so a
filtered page costs what an unfiltered one does plus the rows it skips:

- `q`: the chunk's text contains it, ignoring case; taken literally (`%`, `_` and the escape
  character are escaped, so it is never a pattern). On PostgreSQL `ILIKE` (every letter's
  case, and the trigram index of migration r0008 can answer it); on SQLite `LIKE`, whose
  case folding covers ASCII letters only.
- `document_id` (a collection's listing): that document's chunks only, from its one partition.
- `min_tokens` / `max_tokens`: bounds on the chunk's token count, inclusive.
- `heading`: the chunk's heading path contains it, ignoring case as `q` does. The path is
  `metadata.headings` (outermost first; the markdown, hierarchical and hybrid strategies, and
  any strategy on a document with headings, record it) joined with " > ", so "setup" matches
  a chunk under "Guide > Setup" and "guide > setup" matches it too. A chunk without headings
  never matches.

A cursor carries its listing's kind; with filters the kind also carries a digest of them, so
a cursor made for one set of filters is refused, with a sentence saying so, when it comes back
with another (`FiltersChanged`), instead of paging through a different listing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.storage.keys import partition_key_for
from chunkyard.storage.models import Chunk
from chunkyard.storage.repositories.chunks import COLLECTION_CHUNKS, DOCUMENT_CHUNKS
from chunkyard.storage.repositories.pages import InvalidCursor, Keyset, Page

# Longest `q` or `heading`: a search term, not a document.
MAX_FILTER_TEXT = 500
HEADING_SEPARATOR = " > "
_ESCAPE = "/"


class FiltersChanged(InvalidCursor):
    """A cursor of this listing, made for other filters than the request's."""

    def __init__(self) -> None:
        super().__init__(
            "cursor: it was made for other filters than this request's (q, document_id, "
            "min_tokens, max_tokens, heading); send the filters of the page it came from, or "
            "leave the cursor out to start from the first page"
        )


@dataclass(frozen=True, slots=True)
class ChunkFilters:
    """What a chunk listing is narrowed to; None (or an empty text) means no filter."""

    q: str | None = None
    document_id: UUID | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    heading: str | None = None

    def __post_init__(self) -> None:
        # An empty search box filters nothing.
        object.__setattr__(self, "q", self.q or None)
        object.__setattr__(self, "heading", self.heading or None)

    @property
    def active(self) -> bool:
        return any(value is not None for value in asdict(self).values())

    def digest(self) -> str:
        values = {k: (str(v) if isinstance(v, UUID) else v) for k, v in asdict(self).items()}
        canonical = json.dumps(values, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def contains_pattern(value: str) -> str:
    """A LIKE pattern matching any text that contains `value` literally (escape `_ESCAPE`)."""
    escaped = (
        value.replace(_ESCAPE, _ESCAPE * 2)
        .replace("%", _ESCAPE + "%")
        .replace("_", _ESCAPE + "_")
    )
    return f"%{escaped}%"


# The heading path as one string, per dialect; `chunks` is the listing's one table.
_HEADING_PATH = {
    "postgresql": (
        "(CASE WHEN jsonb_typeof(chunks.metadata -> 'headings') = 'array' THEN "
        "(SELECT string_agg(h.value, :heading_separator ORDER BY h.n) "
        "FROM jsonb_array_elements_text(chunks.metadata -> 'headings') "
        "WITH ORDINALITY AS h(value, n)) END)"
    ),
    "sqlite": (
        "(SELECT group_concat(h.value, :heading_separator) FROM "
        "(SELECT value FROM json_each(chunks.metadata, '$.headings') ORDER BY key) AS h)"
    ),
}


def _heading_condition(dialect: str, heading: str) -> ColumnElement[bool]:
    like = "ILIKE" if dialect == "postgresql" else "LIKE"
    path = _HEADING_PATH.get(dialect, _HEADING_PATH["sqlite"])
    return text(f"{path} {like} :heading_pattern ESCAPE '{_ESCAPE}'").bindparams(
        bindparam("heading_separator", HEADING_SEPARATOR),
        bindparam("heading_pattern", contains_pattern(heading)),
    )  # type: ignore[return-value]


def conditions(filters: ChunkFilters, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE conditions of `filters` (besides the listing's own scope)."""
    where: list[ColumnElement[bool]] = []
    if filters.document_id is not None:
        where += [
            Chunk.partition_key == partition_key_for(filters.document_id),
            Chunk.document_id == filters.document_id,
        ]
    if filters.min_tokens is not None:
        where.append(Chunk.tokens >= filters.min_tokens)
    if filters.max_tokens is not None:
        where.append(Chunk.tokens <= filters.max_tokens)
    if filters.q is not None:
        where.append(Chunk.text.ilike(contains_pattern(filters.q), escape=_ESCAPE))
    if filters.heading is not None:
        where.append(_heading_condition(dialect, filters.heading))
    return where


def _cursor_kind(cursor: str) -> str | None:
    """The kind a cursor names, or None when it is not one of ours at all."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return None


def _keyset(listing: Keyset, filters: ChunkFilters) -> Keyset:
    # Unfiltered listings keep their kind, so cursors issued before filters existed still work.
    if not filters.active:
        return listing
    return Keyset(f"{listing.kind}~{filters.digest()}", listing.columns)


async def _page(
    session: AsyncSession, listing: Keyset, base: Select[Any], filters: ChunkFilters,
    *, limit: int, cursor: str | None,
) -> Page[Chunk]:
    dialect = session.get_bind().dialect.name
    base = base.where(*conditions(filters, dialect))
    keyset = _keyset(listing, filters)
    try:
        return await keyset.page(session, base, limit=limit, cursor=cursor)
    except InvalidCursor:
        kind = _cursor_kind(cursor) if cursor is not None else None
        if kind is not None and kind != keyset.kind and kind.split("~")[0] == listing.kind:
            raise FiltersChanged() from None
        raise


async def list_document_chunks_filtered(
    session: AsyncSession, document_id: UUID, filters: ChunkFilters, *, limit: int = 100,
    cursor: str | None = None,
) -> Page[Chunk]:
    """A document's chunks that pass `filters`, in index order (one partition, one index);
    `filters.document_id` is ignored."""
    base = select(Chunk).where(
        Chunk.partition_key == partition_key_for(document_id),
        Chunk.document_id == document_id,
    )
    narrowed = ChunkFilters(q=filters.q, min_tokens=filters.min_tokens,
                            max_tokens=filters.max_tokens, heading=filters.heading)
    return await _page(session, DOCUMENT_CHUNKS, base, narrowed, limit=limit, cursor=cursor)


async def list_collection_chunks_filtered(
    session: AsyncSession, collection_id: UUID, filters: ChunkFilters, *, limit: int = 100,
    cursor: str | None = None,
) -> Page[Chunk]:
    """A collection's chunks that pass `filters`, in chunk order (document, then index); with
    `filters.document_id`, from that document's one partition."""
    base = select(Chunk).where(Chunk.collection_id == collection_id)
    return await _page(session, COLLECTION_CHUNKS, base, filters, limit=limit, cursor=cursor)
