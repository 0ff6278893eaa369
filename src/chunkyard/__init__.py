"""Chunkyard: retrieval-ready chunks with exact source offsets and a hard token cap.

The public names are imported on first use (PEP 562), so that `import chunkyard` -- which
every `chunkyard.*` module runs first, the command line included -- costs almost nothing, and
a command imports only what it uses.
"""

from typing import TYPE_CHECKING, Any

from chunkyard.core import embeddings as _embeddings

if TYPE_CHECKING:
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

# Where each public name lives.
_LAZY = {
    "Chunk": "chunkyard.core.types",
    "ChunkingError": "chunkyard.core.types",
    "Document": "chunkyard.core.types",
    "Heading": "chunkyard.core.types",
    "PageSpan": "chunkyard.core.types",
    "StrategyInfo": "chunkyard.core.registry",
    "create_strategy": "chunkyard.core.registry",
    "list_strategies": "chunkyard.core.registry",
    "iter_chunks": "chunkyard.core.pipeline",
    "chunk_text": "chunkyard.extract.pasted",
    "document_from_text": "chunkyard.extract.pasted",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chunkyard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _default_embedders(spec: Any) -> "_embeddings.Embedder":
    """The embedding models of `chunkyard.embedding`, imported only when one is asked for."""
    from chunkyard.embedding import get_embedder

    return get_embedder(spec)


# The core's semantic strategy embeds through whatever is installed here (core does no I/O).
_embeddings.use_embedders(_default_embedders)
