"""Chunk a stored file: the one code path shared by chunking jobs and document previews.

A preview of a document is exactly what a job would store for it because both load the file
with `stored.load_document` and chunk it here (a job in batches, `chunk_file_batches`).
Blocking (file I/O and CPU): call these in the job processes or the app's chunking processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from chunkyard.core.pipeline import iter_chunks
from chunkyard.core.types import Chunk, Document
from chunkyard.documents.stored import StoredFile, load_document


def warm_up() -> None:
    """Load what chunking needs once per process, the built-in strategies and the default
    tokenizer (a fifth of a second or more), so that the first document does not wait."""
    from chunkyard.core.registry import strategy_class
    from chunkyard.core.sizing.registry import get_tokenizer

    strategy_class("recursive")
    get_tokenizer()


def chunk_document(document: Document, config: dict[str, Any]) -> list[Chunk]:
    """The chunks of an extracted document under a `{strategy, params}` configuration."""
    return list(_iter_config(document, config))


def _iter_config(document: Document, config: dict[str, Any]) -> Iterator[Chunk]:
    return iter_chunks(document, str(config.get("strategy", "recursive")),
                       dict(config.get("params") or {}))


# A batch of a document's chunks ends at this many chunks or characters of chunk text,
# whichever comes first: what a chunking process hands over at a time.
BATCH_CHUNKS = 2000
BATCH_CHARS = 2_000_000


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a stored file's extraction tells before its chunks: its warnings, its text's
    length in characters, and its pages (None for a kind without pages)."""

    warnings: list[str]
    chars: int
    pages: int | None


def chunk_file_batches(
    source: StoredFile, config: dict[str, Any]
) -> tuple[Extracted, Iterator[list[Chunk]]]:
    """Load one stored file; what its extraction tells, and its chunks as they are made, in
    batches (a job stores them so, never holding a whole document's list)."""
    document = load_document(source)
    extracted = Extracted(list(document.warnings), len(document.text),
                          len(document.pages) if document.pages else None)
    return extracted, _batches(_iter_config(document, config))


def _batches(chunks: Iterator[Chunk]) -> Iterator[list[Chunk]]:
    batch: list[Chunk] = []
    chars = 0
    for chunk in chunks:
        batch.append(chunk)
        chars += len(chunk.text)
        if len(batch) >= BATCH_CHUNKS or chars >= BATCH_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


@dataclass(slots=True)
class FileChunks:
    """One stored file being chunked: its extraction's warnings, then its chunks in batches,
    in order (a job's `Chunker` streams them from where the chunking runs)."""

    warnings: list[str]
    batches: AsyncIterator[list[Chunk]]
    chars: int | None = None  # the extracted text's length
    pages: int | None = None
