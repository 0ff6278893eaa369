"""The `chars` and `words` tokenizers: counts that need no model."""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left

from chunkyard.core.sizing.base import WHITESPACE, Measure, Tokenizer


class CharsTokenizer(Tokenizer):
    """One token per character (Python `str` index), so a cap is a character limit."""

    name = "chars"

    def count(self, text: str) -> int:
        return len(text)

    def measure(self, text: str, lo: int = 0, hi: int | None = None) -> Measure:
        return CharsMeasure(text, lo, len(text) if hi is None else hi)


class CharsMeasure(Measure):
    def count(self, a: int, b: int) -> int:
        return b - a

    def fit(self, a: int, limit: int, cap: int) -> int:
        return min(limit, a + cap)

    def back(self, b: int, floor: int, budget: int) -> int:
        if budget <= 0:
            return b
        return self._next_word_start(max(floor, b - budget), b)


class WordsTokenizer(Tokenizer):
    """One token per whitespace-separated word (`len(text.split())`)."""

    name = "words"

    def count(self, text: str) -> int:
        return len(text.split())

    def measure(self, text: str, lo: int = 0, hi: int | None = None) -> Measure:
        return WordsMeasure(text, lo, len(text) if hi is None else hi)


class WordsMeasure(Measure):
    """Word starts indexed once; a span's count is a difference of two bisections."""

    def __init__(self, text: str, lo: int, hi: int) -> None:
        super().__init__(text, lo, hi)
        self.starts = array("q", (m.start() for m in _WORD.finditer(text, lo, hi)))

    def _inside_word(self, a: int) -> bool:
        """True when `a` is a non-space character that does not start a word."""
        if self.text[a] in WHITESPACE:
            return False
        k = bisect_left(self.starts, a)
        return not (k < len(self.starts) and self.starts[k] == a)

    def count(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        n = bisect_left(self.starts, b) - bisect_left(self.starts, a)
        return n + 1 if self._inside_word(a) else n

    def fit(self, a: int, limit: int, cap: int) -> int:
        if self._inside_word(a):
            cap -= 1  # the partial word at `a` takes one token
        idx = bisect_left(self.starts, a) + cap
        if idx >= len(self.starts):
            return limit
        return max(a + 1, min(limit, self.starts[idx]))


_WORD = re.compile(r"\S+")
