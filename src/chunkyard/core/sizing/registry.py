"""Tokenizers by name: `chars`, `words`, `cl100k` (default) and `hf:PATH`."""

from __future__ import annotations

import os
import threading

from chunkyard.core.sizing.base import Tokenizer
from chunkyard.core.types import ChunkingError

DEFAULT_TOKENIZER = "cl100k"
BUILTIN = ("chars", "words", "cl100k")

_cache: dict[str, Tokenizer] = {}
_lock = threading.Lock()


def validate_tokenizer_name(name: str) -> str:
    """Check a tokenizer name without loading it; returns the name or raises ChunkingError."""
    if name in BUILTIN:
        return name
    if name.startswith("hf:"):
        path = name[3:]
        if not path:
            raise ChunkingError("tokenizer 'hf:' needs a path to a tokenizer.json file")
        return name
    raise ChunkingError(
        f"unknown tokenizer {name!r}; use one of chars, words, cl100k or hf:PATH/tokenizer.json"
    )


def get_tokenizer(name: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """The tokenizer for `name`, loaded once per process."""
    validate_tokenizer_name(name)
    with _lock:
        cached = _cache.get(name)
    if cached is not None:
        return cached
    tok: Tokenizer
    if name == "chars":
        from chunkyard.core.sizing.simple import CharsTokenizer

        tok = CharsTokenizer()
    elif name == "words":
        from chunkyard.core.sizing.simple import WordsTokenizer

        tok = WordsTokenizer()
    elif name == "cl100k":
        from chunkyard.core.sizing.tiktoken_bpe import Cl100kTokenizer

        tok = Cl100kTokenizer()
    else:
        from chunkyard.core.sizing.huggingface import HuggingFaceTokenizer

        path = name[3:]
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        tok = HuggingFaceTokenizer(name, path)
    with _lock:
        return _cache.setdefault(name, tok)
