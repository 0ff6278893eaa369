"""Chunk a Document with a named strategy (a text named like a file: `extract.pasted`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chunkyard.core.registry import create_strategy
from chunkyard.core.types import Chunk, Document


def iter_chunks(
    doc: Document, strategy: str = "recursive", params: dict[str, Any] | None = None
) -> Iterator[Chunk]:
    """Stream the chunks of `doc`; raises ChunkingError for a bad strategy or parameter."""
    return create_strategy(strategy, params).chunks(doc)
