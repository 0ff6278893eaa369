"""The `hf:PATH` tokenizer: any Hugging Face `tokenizer.json`, counted without special tokens."""

from __future__ import annotations

from array import array
from typing import Any

from chunkyard.core.sizing.base import IndexedMeasure, Measure, Tokenizer
from chunkyard.core.types import ChunkingError


class HuggingFaceTokenizer(Tokenizer):
    def __init__(self, name: str, path: str) -> None:
        try:
            from tokenizers import Tokenizer as HFTokenizer
        except ImportError as exc:
            raise ChunkingError(
                "the hf: tokenizer needs the 'tokenizers' package (a chunkyard dependency): "
                "pip install tokenizers"
            ) from exc
        try:
            self._tok: Any = HFTokenizer.from_file(path)
        except Exception as exc:  # the Rust side raises bare Exceptions
            raise ChunkingError(f"cannot load tokenizer file {path!r}: {exc}") from exc
        # Truncation would silently under-count long texts.
        self._tok.no_truncation()
        self._tok.no_padding()
        self.name = name

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def measure(self, text: str, lo: int = 0, hi: int | None = None) -> Measure:
        hi = len(text) if hi is None else hi
        enc = self._tok.encode(text[lo:hi], add_special_tokens=False)
        pos = array("q", [lo])
        cnt = array("q", [0])
        for k, (_, end) in enumerate(enc.offsets):
            if end + lo > pos[-1]:
                pos.append(end + lo)
                cnt.append(k + 1)
        return HuggingFaceMeasure(self, text, lo, hi, pos, cnt)


class HuggingFaceMeasure(IndexedMeasure):
    """Estimates from one encoding; every count is an exact re-encoding of the span."""

    def __init__(self, tok: HuggingFaceTokenizer, text: str, lo: int, hi: int,
                 pos: array[int], cnt: array[int]) -> None:
        super().__init__(text, lo, hi, pos, cnt)
        self._count = tok.count

    def count(self, a: int, b: int) -> int:
        return self._count(self.text[a:b]) if b > a else 0
