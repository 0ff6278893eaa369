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
import re
import struct
import threading
from collections.abc import Sequence
from itertools import accumulate, chain
from typing import Any

import numpy as np

from chunkyard.core.embeddings import FloatMatrix, normalise
from chunkyard.core.types import ChunkingError
from chunkyard.embedding.folders import PerFolder

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


# Where BERT's normaliser and pre-tokenizer split words: its whitespace (Unicode White_Space
# less the control characters it deletes, plus tab, newline and return). Splitting there first
# gives the same tokens, since the normaliser works per character and words never span it.
_BERT_SPACE = re.compile("[\t\n\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
# Words remembered per model; prose repeats its words, so the tokenizer sees each one once.
_MAX_CACHED_WORDS = 500_000


class _Model:
    """A loaded static model: its tokenizer, its float32 vectors, and a word -> token ids
    cache used when the tokenizer is BERT's (tokenizing unique words is ~3x faster)."""

    def __init__(self, tokenizer: Any, vectors: np.ndarray[Any, np.dtype[np.float32]]) -> None:
        self.tokenizer = tokenizer
        self.vectors = vectors
        spec = json.loads(tokenizer.to_str())
        unknown = (spec.get("model") or {}).get("unk_token")
        self.unknown_id: int | None = (tokenizer.token_to_id(unknown)
                                       if isinstance(unknown, str) else None)
        self.by_words = ((spec.get("normalizer") or {}).get("type") == "BertNormalizer"
                         and (spec.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer")
        self._words: dict[str, list[int]] = {"": []}
        self._lock = threading.Lock()

    def token_ids(self, texts: list[str]) -> tuple[list[int], list[int]]:
        """Every text's known token ids, concatenated, and how many belong to each text."""
        unknown = self.unknown_id
        if not self.by_words:
            encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
            per_text = [[i for i in e.ids if i != unknown] for e in encodings]
            return list(chain.from_iterable(per_text)), [len(ids) for ids in per_text]
        split = _BERT_SPACE.split
        words_of = [split(text) for text in texts]
        with self._lock:
            cache = self._words
            new = list({w for words in words_of for w in words if w not in cache})
            if len(cache) + len(new) > _MAX_CACHED_WORDS:
                cache.clear()
                cache[""] = []
                new = list({w for words in words_of for w in words if w})
            if new:
                encodings = self.tokenizer.encode_batch_fast(new, add_special_tokens=False)
                for word, encoding in zip(new, encodings, strict=True):
                    cache[word] = [i for i in encoding.ids if i != unknown]
            per_text = [list(chain.from_iterable(map(cache.__getitem__, words)))
                        for words in words_of]
        return list(chain.from_iterable(per_text)), [len(ids) for ids in per_text]


def _load(path: str) -> _Model:
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
    return _Model(tokenizer, np.ascontiguousarray(matrix, dtype=np.float32))


_MODELS: PerFolder[_Model] = PerFolder(_load)


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
        model = _MODELS.get(self.model_path)
        vectors = model.vectors
        out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        if not texts:
            return out
        flat_ids, lengths = model.token_ids(list(texts))
        flat = np.asarray(flat_ids, dtype=np.int64)
        # Each text's rows summed over its slice of the gathered rows, in steps of about
        # _TOKENS_PER_STEP tokens. A slice `.sum(axis=0)` per text is several times faster
        # than `np.add.reduceat` along axis 0, which numpy does not vectorise.
        bounds = [0, *accumulate(lengths)]
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
        out /= np.maximum(np.asarray(lengths, dtype=np.float32), 1.0)[:, None]
        return normalise(out)

    def __repr__(self) -> str:
        return f"StaticEmbedder(model_path={self.model_path!r})"
