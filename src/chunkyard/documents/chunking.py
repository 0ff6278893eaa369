"""Chunk a stored file: the one code path shared by chunking jobs and document previews.

A preview of a document is exactly what a job would store for it because both read, extract
and chunk the file here. Blocking (file I/O and CPU): call these in a worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chunkyard.core.pipeline import iter_chunks
from chunkyard.core.types import Chunk, Document
from chunkyard.extract import extract_bytes


def read_document(path: Path, filename: str) -> Document:
    """The extracted text and structure of a stored file; `filename` picks the extractor."""
    data = path.read_bytes()
    document = extract_bytes(data, filename)
    del data  # only the text is needed from here on
    return document


def chunk_document(document: Document, config: dict[str, Any]) -> list[Chunk]:
    """The chunks of an extracted document under a `{strategy, params}` configuration."""
    return list(iter_chunks(document, str(config.get("strategy", "recursive")),
                            dict(config.get("params") or {})))


def chunk_file(path: Path, filename: str, config: dict[str, Any]) -> list[Chunk]:
    """Read, extract and chunk one stored file (what a job stores for a document)."""
    return chunk_document(read_document(path, filename), config)
