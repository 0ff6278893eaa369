"""Chunk a stored file: the one code path shared by chunking jobs and document previews.

A preview of a document is exactly what a job would store for it because both load the file
with `stored.load_document` and chunk it here. Blocking (file I/O and CPU): call these in a
worker thread or in the app's chunking processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chunkyard.core.pipeline import iter_chunks
from chunkyard.core.types import Chunk, Document
from chunkyard.documents.stored import StoredFile, load_document


def chunk_document(document: Document, config: dict[str, Any]) -> list[Chunk]:
    """The chunks of an extracted document under a `{strategy, params}` configuration."""
    return list(iter_chunks(document, str(config.get("strategy", "recursive")),
                            dict(config.get("params") or {})))


@dataclass(slots=True)
class ChunkedFile:
    """A stored file's chunks, and the warnings of its extraction (characters replaced)."""

    chunks: list[Chunk]
    warnings: list[str] = field(default_factory=list)


def chunk_file(source: StoredFile, config: dict[str, Any]) -> ChunkedFile:
    """Load and chunk one stored file (what a job stores for a document)."""
    document = load_document(source)
    return ChunkedFile(chunk_document(document, config), list(document.warnings))
