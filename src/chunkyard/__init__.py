"""Chunkyard: retrieval-ready chunks with exact source offsets and a hard token cap."""

from chunkyard.core.pipeline import chunk_text, document_from_text, iter_chunks
from chunkyard.core.registry import StrategyInfo, create_strategy, list_strategies
from chunkyard.core.types import Chunk, ChunkingError, Document, Heading, PageSpan

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
