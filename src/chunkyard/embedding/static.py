"""A static embedding model (the model2vec method), run with numpy and `tokenizers` only.

A static model holds one vector per vocabulary token; a text's embedding is the normalised mean
of its tokens' vectors. It is not contextual, but for telling where the topic changes between
neighbouring sentences it is close to the transformer it was distilled from, at a small part of
the cost and with no torch. The bundled one (`models/minilm-static`) is distilled from
all-MiniLM-L6-v2 by `scripts/distill_static_model.py`; `static:PATH` loads any model2vec folder
(`model.safetensors` + `tokenizer.json`).
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from chunkyard.core.embeddings import FloatMatrix, normalise
from chunkyard.core.types import ChunkingError

MODEL_FILES = ("model.safetensors", "tokenizer.json")
# Tokens averaged per numpy step: bounds the gathered rows (tokens x dims float32) to ~64 MB.
_TOKENS_PER_STEP = 65_536
_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8,
           "BF16": None}


def bundled_model_path() -> str:
    """The folder of the static model shipped inside this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "minilm-static")


def read_safetensors(path: str) -> dict[str, np.ndarray[Any, Any]]:
    """The tensors of a `.safetensors` file, read with numpy (an 8-byte header length, a JSON
    header of dtypes, shapes and byte ranges, then the raw little-endian data)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("file too short")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > len(raw) - 8:
        raise ValueError("header length past the end of the file")
    header = json.loads(raw[8 : 8 + header_len])
    data = memoryview(raw)[8 + header_len :]
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name!r} has unsupported dtype {info['dtype']}")
        lo, hi = info["data_offsets"]
        array = np.frombuffer(data[lo:hi], dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"])
    return tensors


@dataclass(frozen=True, slots=True)
class _Loaded:
    tokenizer: Any
    vectors: np.ndarray[Any, np.dtype[np.float32]]
    unknown_id: int | None


_LOADED: dict[str, _Loaded] = {}
_LOADED_LOCK = threading.Lock()


def _load(path: str) -> _Loaded:
    with _LOADED_LOCK:
        found = _LOADED.get(path)
        if found is not None:
            return found
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ChunkingError(
                "the static embedding model needs the 'tokenizers' package"
            ) from None
        try:
            tokenizer = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
            tensors = read_safetensors(os.path.join(path, "model.safetensors"))
        except Exception as exc:  # a corrupt or foreign folder: one clear error
            reason = " ".join(str(exc).split())[:300]
            raise ChunkingError(f"cannot load the static embedding model at {path}: {reason}"
                                ) from exc
        matrix = tensors.get("embeddings")
        if matrix is None and len(tensors) == 1:
            matrix = next(iter(tensors.values()))
        if matrix is None or matrix.ndim != 2:
            raise ChunkingError(f"{path}/model.safetensors holds no 2-D 'embeddings' tensor")
        if matrix.shape[0] < tokenizer.get_vocab_size():
            raise ChunkingError(
                f"{path}: {matrix.shape[0]} vectors for a vocabulary of "
                f"{tokenizer.get_vocab_size()} tokens"
            )
        # Our sentences are already bounded; the model's own truncation and padding would
        # drop words or add tokens to the mean.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        unknown = _unknown_token(tokenizer)
        loaded = _Loaded(tokenizer, np.ascontiguousarray(matrix, dtype=np.float32),
                         tokenizer.token_to_id(unknown) if unknown else None)
        _LOADED[path] = loaded
        return loaded


def _unknown_token(tokenizer: Any) -> str | None:
    try:
        model = json.loads(tokenizer.to_str())["model"]
    except (ValueError, KeyError, TypeError):
        return None
    token = model.get("unk_token")
    return token if isinstance(token, str) else None


class StaticEmbedder:
    """Embeds with a static model folder: tokenize (no special tokens), drop unknown tokens,
    average the tokens' vectors, normalise. A text with no known token gets a zero row.

    `name` is `"static"` for the bundled model and `"static:<path>"` otherwise, so
    `get_embedder(e.name)` rebuilds it. The folder is loaded on the first `embed` (~50 ms).
    """

    def __init__(self, model_path: str | None = None) -> None:
        if model_path is None:
            self.name = "static"
            path = bundled_model_path()
        else:
            self.name = f"static:{model_path}"
            path = model_path
        path = os.path.abspath(os.path.expanduser(path))
        missing = [f for f in MODEL_FILES if not os.path.isfile(os.path.join(path, f))]
        if missing:
            raise ChunkingError(
                f"static embedding model folder {path} lacks {', '.join(missing)}"
            )
        self.model_path = path

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        model = _load(self.model_path)
        vectors = model.vectors
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        if not texts:
            return out
        encodings = model.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        ids_per_text = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, ids_per_text), dtype=np.int64, count=len(ids_per_text))
        flat = np.fromiter(chain.from_iterable(ids_per_text), dtype=np.int64,
                           count=int(lengths.sum()))
        if model.unknown_id is not None:
            known = flat != model.unknown_id
            owner = np.repeat(np.arange(len(texts)), lengths)[known]
            flat = flat[known]
            lengths = np.bincount(owner, minlength=len(texts))
        # Each text's rows summed over its slice of the gathered rows, in steps of about
        # _TOKENS_PER_STEP tokens. A slice `.sum(axis=0)` per text is several times faster
        # than `np.add.reduceat` along axis 0, which numpy does not vectorise.
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        step_start = 0
        for t in range(len(texts) + 1):
            if t < len(texts) and bounds[t] - bounds[step_start] < _TOKENS_PER_STEP:
                continue
            lo = bounds[step_start]
            rows = vectors[flat[lo : bounds[t]]]
            for u in range(step_start, t):
                a, b = bounds[u] - lo, bounds[u + 1] - lo
                if b > a:
                    out[u] = rows[a:b].sum(axis=0)
            step_start = t
        out /= np.maximum(lengths, 1).astype(np.float32)[:, None]
        return normalise(out)

    def __repr__(self) -> str:
        return f"StaticEmbedder(model_path={self.model_path!r})"
