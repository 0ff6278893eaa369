"""What the `semantic` strategy needs of an embedding model, and nothing that talks to one.

The core does no I/O: the embedders themselves (a local sentence-transformers model, an
OpenAI-compatible endpoint) live in `chunkyard.embedding`, and reach the strategy through the
factory a caller installs here (`use_embedders`). `import chunkyard` installs the default
factory, `chunkyard.embedding.get_embedder`, lazily, so the library, the CLI, jobs and
previews all embed the same way; a test or an embedding application can install its own.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from chunkyard.core.types import ChunkingError

__all__ = ["API_KEY_ENV", "Embedder", "EmbedderSpec", "embedder_for", "is_http_url", "normalise",
           "use_embedders"]

FloatMatrix = npt.NDArray[np.float32]
# Where the factory finds an endpoint's API key: keys are never chunking parameters (which are
# stored and echoed back).
API_KEY_ENV = "CHUNKYARD_EMBEDDING_API_KEY"
# "local", "local:/path/to/model", {"url": ..., "model": ...}, or an Embedder itself.
EmbedderSpec = str | Mapping[str, Any] | Any


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into one L2-normalised float32 row each, in input order."""

    name: str

    def embed(self, texts: Sequence[str]) -> FloatMatrix: ...


def normalise(matrix: npt.ArrayLike) -> FloatMatrix:
    """Return float32 rows of unit L2 norm; all-zero rows stay zero instead of becoming NaN."""
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim != 2:
        raise ChunkingError(f"embeddings must be a 2-D matrix, got shape {rows.shape}")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    np.maximum(norms, np.finfo(np.float32).tiny, out=norms)
    return np.ascontiguousarray(rows / norms, dtype=np.float32)


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host and a valid port."""
    parts = urllib.parse.urlsplit(url)
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        return valid and (parts.port or 0) >= 0  # `.port` raises on a non-numeric port
    except ValueError:
        return False


_factory: Callable[[EmbedderSpec], Embedder] | None = None
_factory_lock = threading.Lock()


def use_embedders(factory: Callable[[EmbedderSpec], Embedder] | None) -> None:
    """Install the function that turns a spec into an embedder (None: none, every semantic
    configuration then fails with a message saying so)."""
    global _factory
    with _factory_lock:
        _factory = factory


def embedder_for(spec: EmbedderSpec) -> Embedder:
    """The embedder a spec names, from the installed factory (an Embedder is returned as is)."""
    if isinstance(spec, Embedder):
        return spec
    factory = _factory
    if factory is None:
        raise ChunkingError("no embedding models are available in this process")
    return factory(spec)
