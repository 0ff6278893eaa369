"""Spec -> embedder: the factory `import chunkyard` installs in `core.embeddings`.

Equal specs share one instance (a local transformer costs ~0.4 s and ~90 MB to load). A remote
spec without an `api_key` takes the key from `CHUNKYARD_EMBEDDING_API_KEY`: keys are never
parameters (which are stored and echoed back).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from chunkyard.core.embeddings import API_KEY_ENV, Embedder, EmbedderSpec
from chunkyard.core.types import ChunkingError
from chunkyard.embedding.local import LocalEmbedder
from chunkyard.embedding.remote import OpenAIEmbedder
from chunkyard.embedding.static import StaticEmbedder

_INSTANCES: OrderedDict[tuple[Any, ...], Embedder] = OrderedDict()
_INSTANCES_LOCK = threading.Lock()
# Bounded because remote specs come from user input and each one would otherwise stay forever.
_MAX_INSTANCES = 32


def _field(spec: Any, key: str) -> Any:
    value = spec.get(key) if isinstance(spec, Mapping) else getattr(spec, key, None)
    # pydantic's SecretStr keeps API keys out of reprs and logs upstream; unwrap it only here.
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def _spec_key(spec: Any) -> tuple[Any, ...]:
    if isinstance(spec, str):
        kind, _, path = spec.strip().partition(":")
        if kind not in ("static", "local"):
            raise ChunkingError(
                f"unknown embedder {spec!r}: use 'static', 'static:/path/to/model', 'local', "
                "'local:/path/to/model' or {'url': ..., 'model': ...}"
            )
        return (kind, path.strip() or None)
    url, model = _field(spec, "url"), _field(spec, "model")
    if not isinstance(url, str) or not isinstance(model, str):
        raise ChunkingError("a remote embedder needs string 'url' and 'model' fields")
    api_key = _field(spec, "api_key")
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV, "").strip() or None
    if api_key is not None and not isinstance(api_key, str):
        raise ChunkingError("'api_key' must be a string")
    batch_size = _field(spec, "batch_size") or 128
    timeout = _field(spec, "timeout") or 60
    return ("openai", url, model, api_key, int(batch_size), float(timeout))


def get_embedder(spec: EmbedderSpec) -> Embedder:
    """Build (or reuse) the embedder a spec names.

    `spec` is `"static"` (the bundled static model, numpy only), `"static:/path/to/model"` (a
    model2vec folder), `"local"` (the all-MiniLM-L6-v2 of the `semantic` extra, on torch),
    `"local:/path/to/model"` (a sentence-transformers folder), a mapping or
    object with `url` and `model` (optionally `api_key`, `batch_size`, `timeout`) for an
    OpenAI-compatible endpoint, or an `Embedder`, returned as is. Equal specs share one instance.
    """
    if isinstance(spec, Embedder):
        return spec
    key = _spec_key(spec)
    with _INSTANCES_LOCK:
        found = _INSTANCES.get(key)
        if found is not None:
            _INSTANCES.move_to_end(key)
            return found
    embedder: Embedder
    if key[0] == "static":
        embedder = StaticEmbedder(key[1])
    elif key[0] == "local":
        embedder = LocalEmbedder(key[1])
    else:
        _, url, model, api_key, batch_size, timeout = key
        embedder = OpenAIEmbedder(url, model, api_key, batch_size=batch_size, timeout=timeout)
    with _INSTANCES_LOCK:
        embedder = _INSTANCES.setdefault(key, embedder)
        _INSTANCES.move_to_end(key)
        while len(_INSTANCES) > _MAX_INSTANCES:
            _INSTANCES.popitem(last=False)
    return embedder
