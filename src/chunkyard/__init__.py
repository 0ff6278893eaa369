"""Chunkyard: retrieval-ready chunks with exact source offsets and a hard token cap."""

from typing import Any

from chunkyard.core import embeddings as _embeddings
from chunkyard.core.pipeline import iter_chunks
from chunkyard.core.registry import StrategyInfo, create_strategy, list_strategies
from chunkyard.core.types import Chunk, ChunkingError, Document, Heading, PageSpan
from chunkyard.extract.pasted import chunk_text, document_from_text

__all__ = [
    "Chunk",
    "ChunkingError",
    "Document",
    "Heading",
    "PageSpan",
    "StrategyInfo",
    "chunk_text",
    "create_strategy",
    "document_from_text",
    "iter_chunks",
    "list_strategies",
]
__version__ = "0.1.0"


def _default_embedders(spec: Any) -> _embeddings.Embedder:
    """The embedding models of `chunkyard.embedding`, imported only when one is asked for."""
    from chunkyard.embedding import get_embedder

    return get_embedder(spec)


# The core's semantic strategy embeds through whatever is installed here (core does no I/O).
_embeddings.use_embedders(_default_embedders)
